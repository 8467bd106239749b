"""Loss and perplexity against an independent computation (explicit log-softmax and gather)."""

import math

import pytest
import torch

from dialogpt.training.loss import (CausalLMLoss, LossSums, ProjectedCrossEntropy,
                                    labelled_positions, output_cross_entropy, token_loss_stats)


def loss_sums_from_logits(logits: torch.Tensor, labels: torch.Tensor) -> LossSums:
    """``LossSums`` of full [B, T, V] logits against pre-shifted [B, T] labels (no gradient)."""
    with torch.no_grad():
        rows, cols = labelled_positions(labels)
        token_losses = torch.nn.functional.cross_entropy(logits[rows, cols].float(),
                                                         labels[rows, cols], reduction="none")
        return LossSums.from_tensor(token_loss_stats(token_losses, rows, labels.shape[0]))


@pytest.fixture(scope="module")
def tiny_model(repo_root):
    from tiny_models import model_from_config

    return model_from_config(repo_root / "configs" / "tiny", seed=0)


def _fixed_batch():
    generator = torch.Generator().manual_seed(123)
    input_ids = torch.randint(0, 50257, (4, 9), generator=generator)
    labels = torch.full((4, 9), -1)
    labels[0, 3:9] = torch.randint(0, 50257, (6,), generator=generator)   # context then response
    labels[1, 1:4] = torch.randint(0, 50257, (3,), generator=generator)   # short, then padding
    labels[1, 6:8] = torch.randint(0, 50257, (2,), generator=generator)   # a second target turn
    labels[3, 0:9] = torch.randint(0, 50257, (9,), generator=generator)   # all predicted
    # row 2 has no label at all: it counts for neither the loss nor the ppl
    attention_mask = torch.ones(4, 9, dtype=torch.long)
    attention_mask[1, 8:] = 0
    position_ids = torch.arange(9).expand(4, 9) * attention_mask
    return input_ids, attention_mask, position_ids, labels


def _reference(logits: torch.Tensor, labels: torch.Tensor) -> tuple[float, float, int]:
    """Token-mean loss, the original's ppl and the token count, written out longhand."""
    log_probs = logits.double().log_softmax(dim=-1)
    per_example = []
    all_tokens = []
    for row in range(labels.shape[0]):
        nll = [-log_probs[row, t, labels[row, t]].item()
               for t in range(labels.shape[1]) if labels[row, t] >= 0]
        all_tokens += nll
        if nll:
            per_example.append(sum(nll) / len(nll))
    return (sum(all_tokens) / len(all_tokens), math.exp(sum(per_example) / len(per_example)),
            len(all_tokens))


def test_loss_module_equals_an_explicit_log_softmax_gather(tiny_model):
    input_ids, attention_mask, position_ids, labels = _fixed_batch()
    with torch.no_grad():
        logits = tiny_model(input_ids=input_ids, attention_mask=attention_mask,
                            position_ids=position_ids).logits
        token_loss, stats = CausalLMLoss(tiny_model)(input_ids, position_ids, labels)
    want_loss, want_ppl, want_tokens = _reference(logits, labels)
    sums = LossSums.from_tensor(stats)
    assert (sums.n_tokens, sums.n_examples) == (want_tokens, 3)
    assert token_loss.item() == pytest.approx(want_loss * want_tokens, rel=1e-5)
    assert sums.loss == pytest.approx(want_loss, rel=1e-5)
    assert sums.ppl == pytest.approx(want_ppl, rel=1e-5)
    assert sums.exp_loss == pytest.approx(math.exp(want_loss), rel=1e-5)
    assert sums.ppl != pytest.approx(sums.exp_loss, rel=1e-3)  # the two perplexities differ
    from_logits = loss_sums_from_logits(logits, labels)
    assert from_logits.loss == pytest.approx(want_loss, rel=1e-5)
    assert from_logits.ppl == pytest.approx(want_ppl, rel=1e-5)


def test_uniform_logits_give_log_vocab_loss_and_vocab_ppl():
    labels = torch.tensor([[-1, 2, 0], [4, -1, -1]])
    sums = loss_sums_from_logits(torch.zeros(2, 3, 5), labels)
    assert sums.loss == pytest.approx(math.log(5))
    assert sums.ppl == pytest.approx(5.0)
    assert (sums.n_tokens, sums.n_examples) == (3, 2)


def test_hand_worked_ppl_is_exp_of_mean_example_loss_not_exp_loss():
    # two-class logits [x, 0] with label 0: token loss = log(1 + e^-x)
    def logits_for(losses):
        xs = [-math.log(math.exp(loss) - 1) for loss in losses]
        return torch.tensor([[x, 0.0] for x in xs])

    a, b = 0.5, 2.0   # example A: one token of loss a; example B: three tokens of loss b
    logits = torch.zeros(2, 3, 2)
    logits[0, :1] = logits_for([a])
    logits[1, :] = logits_for([b, b, b])
    labels = torch.tensor([[0, -1, -1], [0, 0, 0]])
    sums = loss_sums_from_logits(logits, labels)
    assert sums.loss == pytest.approx((a + 3 * b) / 4)
    assert sums.ppl == pytest.approx(math.exp((a + b) / 2))


def test_sums_add_up_over_splits():
    whole = LossSums(10.0, 4, 3.0, 2) + LossSums(2.0, 1, 2.0, 1)
    assert whole == LossSums(12.0, 5, 5.0, 3)
    packed = LossSums.stack(torch.tensor(12.0), 5, torch.tensor(5.0), 3)
    assert packed.dtype == torch.float64 and LossSums.from_tensor(packed) == whole
    assert math.isnan(LossSums().loss) and math.isnan(LossSums().ppl)


def test_no_attention_mask_is_needed_for_end_padded_batches(tiny_model):
    input_ids, attention_mask, position_ids, labels = _fixed_batch()
    with torch.no_grad():
        masked = tiny_model(input_ids=input_ids, attention_mask=attention_mask,
                            position_ids=position_ids).logits
        unmasked = tiny_model(input_ids=input_ids, position_ids=position_ids).logits
    real = attention_mask.bool()
    torch.testing.assert_close(unmasked[real], masked[real], rtol=1e-5, atol=1e-5)


def _explicit_losses(hidden, weight, targets):
    """Token losses written out: logits, log-sum-exp, minus the target's logit (float64)."""
    logits = hidden.double() @ weight.double().t()
    return torch.logsumexp(logits, dim=1) - logits.gather(1, targets.unsqueeze(1)).squeeze(1)


@pytest.mark.parametrize("rows_per_block", [2, 128])
def test_fused_output_cross_entropy_matches_autograd(monkeypatch, rows_per_block):
    """Losses and both gradients equal those of the explicit float64 formula differentiated by
    autograd, with a different weight per row (not only the uniform one of a sum), over one block
    or several."""
    monkeypatch.setattr(ProjectedCrossEntropy, "ROWS", rows_per_block)
    generator = torch.Generator().manual_seed(7)
    hidden = torch.randn(5, 8, generator=generator, requires_grad=True)
    head = torch.nn.Linear(8, 300, bias=False)
    torch.nn.init.normal_(head.weight, std=0.5, generator=generator)
    targets = torch.tensor([0, 299, 17, 17, 150])
    row_weights = torch.tensor([1.0, 0.5, -2.0, 3.0, 0.25])

    losses = output_cross_entropy(head, hidden, targets)
    assert losses.grad_fn is not None and "ProjectedCrossEntropy" in type(losses.grad_fn).__name__
    (losses * row_weights).sum().backward()

    want_hidden = hidden.detach().double().requires_grad_()
    want_weight = head.weight.detach().double().requires_grad_()
    want = _explicit_losses(want_hidden, want_weight, targets)
    (want * row_weights.double()).sum().backward()
    torch.testing.assert_close(losses.double(), want.detach(), rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(hidden.grad.double(), want_hidden.grad, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(head.weight.grad.double(), want_weight.grad, rtol=1e-5, atol=1e-6)


def test_output_cross_entropy_without_gradient_is_the_plain_path():
    head = torch.nn.Linear(4, 10, bias=False)
    hidden, targets = torch.randn(3, 4), torch.tensor([1, 2, 3])
    with torch.no_grad():
        losses = output_cross_entropy(head, hidden, targets)
    assert losses.grad_fn is None
    torch.testing.assert_close(losses.double(), _explicit_losses(hidden, head.weight, targets),
                               rtol=1e-6, atol=1e-6)
