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


def loss_sums_from_logits(logits: torch.Tensor, labels: torch.Tensor) -> LossSums:
    """``LossSums`` of full [B, T, V] logits against pre-shifted [B, T] labels (no gradient)."""
    with torch.no_grad():
        rows, cols = labelled_positions(labels)
        token_losses = F.cross_entropy(logits[rows, cols].float(), labels[rows, cols],
                                       reduction="none")
        return LossSums.from_tensor(token_loss_stats(token_losses, rows, labels.shape[0]))


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
        logits = self.model.get_output_embeddings()(hidden[rows, cols])
        token_losses = F.cross_entropy(logits.float(), labels[rows, cols], reduction="none")
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
