"""Language-model loss on pre-shifted labels, and the two perplexities DialoGPT reports.

Both model kinds (causal DialoGPT, encoder-decoder GODEL) share it; the kind only changes the
inputs of the forward pass (``CausalLMLoss`` / ``Seq2SeqLMLoss``).

Labels are pre-shifted: ``labels[b, t]`` is the token that follows ``input_ids[b, t]``, and a
negative label (``-1``) marks a position that is not predicted (first turn, weight-0 turns,
padding). So the loss compares ``logits[b, t]`` with ``labels[b, t]`` directly, with no shift.

Two numbers come out of a set of examples (see the training spec, section 2):

- ``loss`` = summed token cross-entropy / number of labelled tokens (a token mean);
- ``ppl``  = exp(mean over examples of each example's token-mean loss), the original's "ppl",
  which is not ``exp(loss)``; both are logged.

Everything is accumulated as sums (``LossSums``) so micro-batches, processes and eval batches
combine exactly, whatever the split.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F


@dataclass(frozen=True)
class LossSums:
    """Additive loss statistics of a set of examples."""

    token_loss: float = 0.0
    """Sum of the cross-entropy of every labelled token."""
    n_tokens: int = 0
    """Number of labelled tokens."""
    example_mean_loss: float = 0.0
    """Sum over examples (with at least one label) of the example's token-mean loss."""
    n_examples: int = 0
    """Examples with at least one labelled token."""

    def __add__(self, other: "LossSums") -> "LossSums":
        return LossSums(self.token_loss + other.token_loss, self.n_tokens + other.n_tokens,
                        self.example_mean_loss + other.example_mean_loss,
                        self.n_examples + other.n_examples)

    @property
    def loss(self) -> float:
        return self.token_loss / self.n_tokens if self.n_tokens else math.nan

    @property
    def ppl(self) -> float:
        """The original's perplexity: exp of the mean per-example loss."""
        if not self.n_examples:
            return math.nan
        return _safe_exp(self.example_mean_loss / self.n_examples)

    @property
    def exp_loss(self) -> float:
        return _safe_exp(self.loss)

    @staticmethod
    def stack(token_loss: torch.Tensor, n_tokens: int | torch.Tensor,
              example_mean_loss: torch.Tensor, n_examples: int | torch.Tensor) -> torch.Tensor:
        """The four sums as one float64 tensor (for ``all_reduce`` and ``+=`` on the device,
        without a host sync); ``from_tensor`` reads it back."""
        parts = [token_loss, n_tokens, example_mean_loss, n_examples]
        return torch.stack([torch.as_tensor(part, dtype=torch.float64, device=token_loss.device)
                            for part in parts])

    @classmethod
    def from_tensor(cls, values: torch.Tensor) -> "LossSums":
        token_loss, n_tokens, example_mean_loss, n_examples = values.tolist()
        return cls(token_loss, round(n_tokens), example_mean_loss, round(n_examples))


def _safe_exp(value: float) -> float:
    try:
        return math.exp(value)
    except OverflowError:
        return math.inf


def labelled_positions(labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(row, column) indices of the labelled (non-negative) entries of a [B, T] label tensor."""
    return (labels >= 0).nonzero(as_tuple=True)


def example_mean_losses(token_losses: torch.Tensor, rows: torch.Tensor,
                        n_rows: int) -> torch.Tensor:
    """Token-mean loss of each example that has labels, from flat token losses and their rows."""
    sums = torch.zeros(n_rows, dtype=token_losses.dtype, device=token_losses.device)
    sums.index_add_(0, rows, token_losses)
    counts = torch.bincount(rows, minlength=n_rows)
    present = counts > 0
    return sums[present] / counts[present]


def token_loss_stats(token_losses: torch.Tensor, rows: torch.Tensor, n_rows: int) -> torch.Tensor:
    """``LossSums.stack`` of the flat losses of labelled tokens and the rows they belong to."""
    token_losses = token_losses.detach()
    per_example = example_mean_losses(token_losses, rows, n_rows)
    return LossSums.stack(token_losses.sum(), rows.numel(), per_example.sum(),
                          per_example.numel())


def output_cross_entropy(head: nn.Module, hidden: torch.Tensor,
                         targets: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of each row of ``hidden`` [N, H] through the output projection ``head``
    against ``targets`` [N]: the flat token losses.

    Training on CPU in fp32 with a bias-free ``nn.Linear`` head (GPT-2's),
    ``ProjectedCrossEntropy`` computes the same values and gradients (to float rounding) without
    the separate [N, vocab] passes of log-softmax, its backward and the one-hot fill; otherwise
    (no gradient, autocast, CUDA, a head with a bias) the plain ``head`` + ``F.cross_entropy``.
    """
    if (torch.is_grad_enabled() and hidden.device.type == "cpu"
            and hidden.dtype == torch.float32 and isinstance(head, nn.Linear)
            and head.bias is None and not torch.is_autocast_enabled("cpu")):
        return ProjectedCrossEntropy.apply(hidden, head.weight, targets)
    return F.cross_entropy(head(hidden).float(), targets, reduction="none")


class ProjectedCrossEntropy(torch.autograd.Function):
    """Token losses of ``hidden @ weight.T`` against ``targets``, the gradient worked out while
    the logits are at hand.

    Forward, one block of rows (tokens) at a time, so that a block stays in cache: the block's
    logits, transposed ([vocab, rows]: ``weight @ hidden.T`` runs about 1.5x faster on CPU than
    the [rows, vocab] product with a 128-wide hidden), shifted by their maximum and exponentiated
    in place, the losses ``log(sum of exp) - logit[target]``, then the block becomes
    ``softmax - one_hot(target)``,
    the gradient of each loss with respect to its logits. Backward scales by the incoming
    gradient of each row and does the two matrix products per block. One [vocab, N] set of
    blocks in all (the plain path holds logits and log-probabilities, then a gradient as big).
    """

    ROWS = 128
    """Tokens per block: 50,257 x 128 fp32 is 26 MB; 64-256 were about equally fast, 16 and 740
    slower (2-core AVX-512 box, one thread)."""

    @staticmethod
    def forward(ctx, hidden: torch.Tensor, weight: torch.Tensor,
                targets: torch.Tensor) -> torch.Tensor:
        losses, blocks = hidden.new_empty(hidden.shape[0]), []
        for start in range(0, hidden.shape[0], ProjectedCrossEntropy.ROWS):
            rows = slice(start, start + ProjectedCrossEntropy.ROWS)
            target = targets[rows].unsqueeze(0)
            logits = torch.mm(weight, hidden[rows].t())                  # [vocab, rows]
            logits.sub_(logits.amax(dim=0, keepdim=True))                # max 0 in each column
            picked = logits.gather(0, target)
            sum_exp = logits.exp_().sum(dim=0, keepdim=True)
            losses[rows] = (sum_exp.log() - picked).squeeze(0)
            logits.div_(sum_exp)                                         # softmax
            logits.scatter_add_(0, target, logits.new_full(target.shape, -1.0))
            blocks.append(logits)                                        # now d loss / d logits
        ctx.save_for_backward(hidden, weight, *blocks)
        return losses

    @staticmethod
    def backward(ctx, grad_losses: torch.Tensor):
        hidden, weight, *blocks = ctx.saved_tensors
        scale = grad_losses.unsqueeze(1)     # d(whatever was computed)/d(loss of each row)
        grad_hidden = grad_weight = None
        if ctx.needs_input_grad[0]:
            grad_hidden = torch.cat([block.t() @ weight for block in blocks]) * scale
        if ctx.needs_input_grad[1]:
            scaled, start = hidden * scale, 0
            for block in blocks:
                part = scaled[start:start + block.shape[1]]
                grad_weight = (block @ part if grad_weight is None
                               else grad_weight.addmm_(block, part))
                start += block.shape[1]
        return grad_hidden, grad_weight, None


class CausalLMLoss(nn.Module):
    """Wraps a causal LM (DialoGPT); ``forward`` returns the summed token loss and its statistics.

    Only labelled positions go through the output projection, so the [tokens, vocab] logits are
    computed for the labelled tokens alone (the first turn and padding never are), which is most
    of the cost of a small model with GPT-2's 50,257-token vocabulary.

    No attention mask is passed: batches are padded at the end, so with causal attention no real
    position can see a padding position, and the fused causal attention kernels apply.

    This is the module that DDP wraps, so that gradient synchronisation hooks see the whole
    computation. ``inputs`` and ``token_counts`` are the only places the trainer learns what a
    batch of this model kind holds.
    """

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def inputs(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The tensors of a loader batch that ``forward`` takes."""
        return {"input_ids": batch["input_ids"], "position_ids": batch["position_ids"],
                "labels": batch["labels"]}

    @staticmethod
    def token_counts(batch: dict[str, torch.Tensor]) -> tuple[int, int, int]:
        """(labelled, real, all) tokens of a batch; real excludes padding."""
        return (int((batch["labels"] >= 0).sum()), int(batch["attention_mask"].sum()),
                batch["input_ids"].numel())

    def forward(self, input_ids: torch.Tensor, position_ids: torch.Tensor,
                labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return the summed token loss (with gradient) and the batch's ``LossSums.stack``."""
        hidden = self.model.base_model(input_ids=input_ids, position_ids=position_ids,
                                       use_cache=False).last_hidden_state
        rows, cols = labelled_positions(labels)
        token_losses = output_cross_entropy(self.model.get_output_embeddings(), hidden[rows, cols],
                                            labels[rows, cols])
        return token_losses.sum(), token_loss_stats(token_losses, rows, labels.shape[0])


class Seq2SeqLMLoss(CausalLMLoss):
    """Wraps an encoder-decoder LM (GODEL: T5, BART); the same loss as ``CausalLMLoss``.

    Batches hold the encoder source (``input_ids``, ``attention_mask``) and the target as
    ``labels`` (ending in EOS, -1 on padding). The decoder reads the target shifted right behind
    the decoder start token (the model's own ``prepare_decoder_input_ids_from_labels``, padding as
    the tokenizer's pad id), so ``logits[t]`` predicts ``labels[t]``: labels are "pre-shifted"
    here too, and the token mean over labelled targets is the loss, as for the causal kind.
    """

    def __init__(self, model: nn.Module):
        super().__init__(model)
        self.pad_id = model.config.pad_token_id

    def inputs(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        labels = batch["labels"]
        decoder_input_ids = self.model.prepare_decoder_input_ids_from_labels(
            labels=labels.masked_fill(labels < 0, self.pad_id))
        return {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"],
                "decoder_input_ids": decoder_input_ids, "labels": labels}

    @staticmethod
    def token_counts(batch: dict[str, torch.Tensor]) -> tuple[int, int, int]:
        """(labelled, real, all) tokens: real = source tokens + target tokens, padding excluded."""
        labelled = int((batch["labels"] >= 0).sum())
        return (labelled, int(batch["attention_mask"].sum()) + labelled,
                batch["input_ids"].numel() + batch["labels"].numel())

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                decoder_input_ids: torch.Tensor,
                labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits = self.model(input_ids=input_ids, attention_mask=attention_mask,
                            decoder_input_ids=decoder_input_ids, use_cache=False).logits
        rows, cols = labelled_positions(labels)
        token_losses = F.cross_entropy(logits[rows, cols].float(), labels[rows, cols],
                                       reduction="none")
        return token_losses.sum(), token_loss_stats(token_losses, rows, labels.shape[0])


def loss_module_for(model: nn.Module) -> CausalLMLoss:
    """``Seq2SeqLMLoss`` for an encoder-decoder model, else ``CausalLMLoss``."""
    from dialogpt.modeling import is_seq2seq

    return Seq2SeqLMLoss(model) if is_seq2seq(model) else CausalLMLoss(model)
