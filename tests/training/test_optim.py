"""The original BERT-Adam reproduced step by step, and AdamW's decay groups."""

import math

import pytest
import torch

from dialogpt.training.optim import BertAdam, build_optimizer, clips_per_tensor, decay_groups


def _bert_adam_first_step(p, g, lr, wd=0.01, eps=1e-6, b1=0.9, b2=0.999, max_norm=1.0):
    """One step of the original optimizer, by hand: per-tensor clip, no bias correction."""
    norm = math.sqrt(sum(x * x for x in g))
    if norm > max_norm:
        g = [x * max_norm / (norm + 1e-6) for x in g]
    m = [(1 - b1) * x for x in g]
    v = [(1 - b2) * x * x for x in g]
    return [pi - lr * (mi / (math.sqrt(vi) + eps) + wd * pi)
            for pi, mi, vi in zip(p, m, v, strict=True)]


def test_bert_adam_matches_the_hand_computed_update():
    weight = torch.nn.Parameter(torch.tensor([1.0, 2.0], dtype=torch.float64))
    bias = torch.nn.Parameter(torch.tensor([0.5], dtype=torch.float64))
    weight.grad = torch.tensor([3.0, 4.0], dtype=torch.float64)   # norm 5: clipped to 1
    bias.grad = torch.tensor([0.25], dtype=torch.float64)          # norm 0.25: untouched
    optimizer = BertAdam([weight, bias], lr=0.1)
    optimizer.step()
    assert weight.tolist() == pytest.approx(_bert_adam_first_step([1.0, 2.0], [3.0, 4.0], 0.1),
                                            rel=1e-12)
    # the bias is decayed too, as the original's key-name bug did
    assert bias.tolist() == pytest.approx(_bert_adam_first_step([0.5], [0.25], 0.1), rel=1e-12)


def test_bert_adam_has_no_bias_correction_on_later_steps():
    param = torch.nn.Parameter(torch.tensor([0.0], dtype=torch.float64))
    optimizer = BertAdam([param], lr=1.0, weight_decay=0.0)
    m = v = 0.0
    expected = 0.0
    for grad in (0.5, -0.2, 0.1):
        param.grad = torch.tensor([grad], dtype=torch.float64)
        optimizer.step()
        m = 0.9 * m + 0.1 * grad
        v = 0.999 * v + 0.001 * grad * grad
        expected -= m / (math.sqrt(v) + 1e-6)
    assert param.item() == pytest.approx(expected, rel=1e-12)


def test_adamw_decays_matrices_and_embeddings_but_not_biases_or_layernorm(repo_root):
    from dialogpt.modeling import load_model

    model = load_model(repo_root / "configs" / "tiny")
    decay, no_decay = decay_groups(model, 0.01)
    names = {id(param): name for name, param in model.named_parameters()}
    decayed = {names[id(param)] for param in decay["params"]}
    not_decayed = {names[id(param)] for param in no_decay["params"]}
    assert "transformer.wte.weight" in decayed and "transformer.h.0.attn.c_attn.weight" in decayed
    assert "transformer.ln_f.weight" in not_decayed
    assert "transformer.h.1.mlp.c_fc.bias" in not_decayed
    assert len(decayed) + len(not_decayed) == len(list(model.parameters()))
    assert (decay["weight_decay"], no_decay["weight_decay"]) == (0.01, 0.0)
    adamw = build_optimizer(model, "adamw", 1e-4, 0.01, 1.0)
    assert isinstance(adamw, torch.optim.AdamW) and not clips_per_tensor(adamw)
    assert clips_per_tensor(build_optimizer(model, "original", 1e-4, 0.01, 1.0))
