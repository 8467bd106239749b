"""DialogRPT reranking: ``--ranker dialogrpt --ranker_model DIR_OR_HUB_ID``.

DialogRPT (Gao et al., EMNLP 2020; recommended by the DialoGPT README) is a GPT-2 sequence
classifier with one output, published as ``microsoft/DialogRPT-updown``, ``-width``, ``-depth``,
``-human-vs-rand`` and ``-human-vs-machine``. Its model cards score a response as
``sigmoid(logit)`` of the text ``context<|endoftext|>response``; a multi-turn context is its turns
joined by ``<|endoftext|>``. The classifier reads the hidden state of the last token.

It was trained contrastively (a Bradley-Terry model: ``P(a preferred to b) = sigmoid(logit_a -
logit_b)``), so the logit itself is the ranking score: :class:`DialogRPTRanker` returns logits
(``sigmoid`` of them is the model card's number), and ``--mmi_temperature`` > 0 samples from
``softmax(logit / T)`` over the candidates, the Bradley-Terry choice probabilities.

With ``--mmi_model`` as well, :class:`CombinedRanker` adds the two scores:
``log P(source | candidate) + ranker_weight * logit``, i.e. the product of the backward model's
likelihood and the Bradley-Terry preference (weighted).

Contexts longer than the classifier's positions keep their most recent tokens; an empty candidate
gets ``-inf`` (never chosen over a non-empty one).
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Sequence

from dialogpt.cli import UserError
from dialogpt.decoding.context import encode_turn

logger = logging.getLogger(__name__)

RANKERS = ("dialogrpt",)


class DialogRPTRanker:
    """Scores candidates with a one-output sequence classifier over ``context EOS response``."""

    def __init__(self, model, tokenizer, tokens_per_batch: int = 4096) -> None:
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.eos_id = tokenizer.eos_token_id
        if self.eos_id is None:
            raise UserError("the DialogRPT tokenizer has no <|endoftext|> token")
        config = model.config
        if getattr(config, "num_labels", 1) != 1:
            raise UserError(f"a DialogRPT model has one output; this one has {config.num_labels} "
                            "(is it a DialogRPT checkpoint?)")
        if not hasattr(model, "score") or not hasattr(model, "base_model_prefix"):
            raise UserError(f"{type(model).__name__} is not a GPT-2 sequence classifier "
                            "(DialogRPT's architecture, GPT2ForSequenceClassification)")
        if config.pad_token_id is None:  # the classifier pools the last non-padding token
            config.pad_token_id = self.eos_id
        self.pad_id = config.pad_token_id
        self.max_positions = getattr(config, "n_positions", None) or \
            getattr(config, "max_position_embeddings", 1024)
        self.tokens_per_batch = tokens_per_batch

    def input_ids(self, turns: Sequence[str], candidate: str) -> list[int] | None:
        """``turn EOS turn ... EOS candidate`` ids, cut from the left to fit; None when empty."""
        response = encode_turn(self.tokenizer, candidate)
        if not response:
            return None
        ids: list[int] = []
        for turn in turns:
            ids += encode_turn(self.tokenizer, turn) + [self.eos_id]
        return (ids + response)[-self.max_positions:]

    def logits(self, sequences: Sequence[Sequence[int]]) -> list[float]:
        """The classifier's logit for each sequence (batched, right-padded, longest first)."""
        import torch

        device = next(self.model.parameters()).device
        order = sorted(range(len(sequences)), key=lambda i: -len(sequences[i]))
        results = [0.0] * len(sequences)
        start = 0
        while start < len(order):
            width = len(sequences[order[start]])
            batch = order[start:start + max(1, self.tokens_per_batch // max(width, 1))]
            start += len(batch)
            ids = torch.full((len(batch), width), self.pad_id, dtype=torch.long)
            mask = torch.zeros((len(batch), width), dtype=torch.long)
            for row, index in enumerate(batch):
                ids[row, :len(sequences[index])] = torch.tensor(list(sequences[index]))
                mask[row, :len(sequences[index])] = 1
            last = mask.sum(dim=1) - 1
            with torch.inference_mode():
                hidden = self._last_hidden(ids.to(device), mask.to(device))
                pooled = hidden[torch.arange(len(batch), device=device), last.to(device)]
                values = self.model.score(pooled).float().squeeze(-1)
            for row, index in enumerate(batch):
                results[index] = float(values[row])
        return results

    def _last_hidden(self, ids, mask):
        """The final hidden states of the classifier's body (pooled at each row's last real
        token by :meth:`logits`, so padding never matters, whatever the pad id)."""
        body = getattr(self.model, self.model.base_model_prefix)
        return body(input_ids=ids, attention_mask=mask).last_hidden_state

    def score(self, contexts: Sequence[Sequence[str]],
              candidates: Sequence[Sequence[str]]) -> list[list[float]]:
        if len(contexts) != len(candidates):
            raise ValueError(f"{len(contexts)} contexts but {len(candidates)} candidate lists")
        inputs = [self.input_ids(turns, candidate)
                  for turns, group in zip(contexts, candidates) for candidate in group]
        present = [ids for ids in inputs if ids is not None]
        values = iter(self.logits(present))
        flat = [next(values) if ids is not None else -math.inf for ids in inputs]
        scores, start = [], 0
        for group in candidates:
            scores.append(flat[start:start + len(group)])
            start += len(group)
        return scores


class CombinedRanker:
    """The weighted sum of several rankers' scores (e.g. MMI + DialogRPT)."""

    def __init__(self, parts: Sequence[tuple[object, float]]) -> None:
        self.parts = list(parts)

    def score(self, contexts: Sequence[Sequence[str]],
              candidates: Sequence[Sequence[str]]) -> list[list[float]]:
        total = [[0.0] * len(group) for group in candidates]
        for ranker, weight in self.parts:
            for row, values in zip(total, ranker.score(contexts, candidates)):
                for index, value in enumerate(values):
                    row[index] += weight * value
        return total


def check_ranker_architecture(name: str) -> None:
    """A local ``--ranker_model`` must be a GPT-2 sequence classifier by its ``config.json``,
    checked before loading (loading another kind prints a table of unused weights first)."""
    from dialogpt.modeling import local_architecture

    found = local_architecture(name)
    if found is None:
        return
    model_type, architectures, seq2seq = found
    if seq2seq or model_type != "gpt2" or (
            architectures and "GPT2ForSequenceClassification" not in architectures):
        kind = "a seq2seq (GODEL) model" if seq2seq else \
            f"a {model_type} {'/'.join(architectures) or 'model'}"
        raise UserError(f"--ranker_model {name} is {kind}, not a DialogRPT ranker "
                        "(GPT2ForSequenceClassification, e.g. microsoft/DialogRPT-updown)")


def load_dialogrpt(name: str, device, fp16: bool = False) -> DialogRPTRanker:
    """A :class:`DialogRPTRanker` from a local directory or a Hub id (its own tokenizer, else
    the offline GPT-2 BPE: DialogRPT uses GPT-2's vocabulary)."""
    import torch
    from transformers import AutoModelForSequenceClassification

    from dialogpt.hub import check_hub_id, offline_error
    from dialogpt.tokenization import has_tokenizer_files, load_tokenizer

    offline = None if Path(name).exists() else check_hub_id(name, "--ranker_model")
    if Path(name).is_dir() and not (Path(name) / "config.json").is_file():
        raise UserError(f"--ranker_model {name} has no config.json; pass a DialogRPT directory")
    check_ranker_architecture(name)
    try:
        model = AutoModelForSequenceClassification.from_pretrained(name)
    except Exception as exc:  # hub, file and format errors come in many types
        if offline:
            raise offline_error(name, "the --ranker_model", offline) from None
        raise UserError(f"could not load --ranker_model {name!r} as a sequence classifier: "
                        f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
                        ) from exc
    tokenizer = load_tokenizer(name if has_tokenizer_files(name) or not Path(name).exists()
                               else None)
    if model.config.vocab_size < len(tokenizer):
        raise UserError(f"--ranker_model {name}: its vocabulary ({model.config.vocab_size}) is "
                        f"smaller than its tokenizer's ({len(tokenizer)})")
    model = model.to(device=device, dtype=torch.float16 if fp16 else torch.float32)
    return DialogRPTRanker(model, tokenizer)


def build_ranker(mmi_ranker, ranker: str | None, ranker_model: str | None, ranker_weight: float,
                 device, fp16: bool = False):
    """The ranker the flags ask for: MMI alone, DialogRPT alone, both combined, or None."""
    if ranker is None:
        if ranker_model:
            raise UserError("--ranker_model needs --ranker dialogrpt")
        return mmi_ranker
    if not ranker_model:
        raise UserError("--ranker dialogrpt needs --ranker_model DIR_OR_HUB_ID (for example "
                        "microsoft/DialogRPT-updown)")
    dialogrpt = load_dialogrpt(ranker_model, device, fp16)
    if mmi_ranker is None:
        return dialogrpt
    return CombinedRanker([(mmi_ranker, 1.0), (dialogrpt, ranker_weight)])
