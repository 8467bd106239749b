"""Candidate reranking: the ``Ranker`` interface and the paper's MMI (reverse-model) scorer.

DialoGPT §4 reranks sampled candidates ``T`` by ``P(Source | T)`` from a *backward* model, a GPT-2
trained on ``prepro.py --reverse`` data (turn order reversed). This penalises bland replies that
fit any context. ``MMIRanker`` computes ``log P(source | candidate)`` as a sum of token
log-probabilities (the same source tokens for every candidate, so sums are comparable without
length normalisation); ``choose_index`` picks the best or samples from ``softmax(score / T)``.

Any object with a ``score`` method of the ``Ranker`` shape plugs in (e.g. a DialogRPT-style
human-feedback model scoring ``context EOS response``).
"""

from __future__ import annotations

import math
import random
from typing import Protocol, Sequence

from dialogpt.decoding.context import encode_turn, reverse_scoring_inputs


class Ranker(Protocol):
    """Scores candidate responses; higher is better."""

    def score(self, contexts: Sequence[Sequence[str]],
              candidates: Sequence[Sequence[str]]) -> list[list[float]]:
        """For each context (its turns, oldest first), one score per candidate response."""
        ...


def choose_index(scores: Sequence[float], temperature: float, rng: random.Random) -> int:
    """The index of the chosen candidate.

    ``temperature == 0``: the highest score (the first one on ties). Otherwise sample index ``i``
    with probability ``exp(s_i / T) / sum_j exp(s_j / T)``. ``-inf`` scores are never sampled
    unless every score is ``-inf``.
    """
    if not scores:
        raise ValueError("no candidates to choose from")
    best = max(range(len(scores)), key=lambda i: (scores[i], -i))
    if temperature == 0 or math.isinf(scores[best]):
        return best
    top = scores[best]
    weights = [math.exp((score - top) / temperature) for score in scores]
    return rng.choices(range(len(scores)), weights=weights)[0]


class MMIRanker:
    """``log P(source | candidate)`` under a backward (reverse-order) DialoGPT model."""

    def __init__(self, model, tokenizer, max_source_turns: int = 0,
                 tokens_per_batch: int = 2048) -> None:
        """``max_source_turns``: most recent context turns scored as the source (0 = all given).

        ``tokens_per_batch`` bounds the padded tokens per forward pass (the logits of one pass
        hold ``tokens_per_batch * vocab`` floats).
        """
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.eos_id = tokenizer.eos_token_id
        self.max_source_turns = max_source_turns
        self.tokens_per_batch = tokens_per_batch
        config = model.config
        self.max_positions = getattr(config, "n_positions", None) or config.max_position_embeddings

    def _encode(self, text: str) -> list[int]:
        return encode_turn(self.tokenizer, text)

    def score(self, contexts: Sequence[Sequence[str]],
              candidates: Sequence[Sequence[str]]) -> list[list[float]]:
        if len(contexts) != len(candidates):
            raise ValueError(f"{len(contexts)} contexts but {len(candidates)} candidate lists")
        inputs: list[tuple[list[int], int]] = []
        for turns, group in zip(contexts, candidates):
            inputs.extend(reverse_scoring_inputs(
                [self._encode(turn) for turn in turns], [self._encode(c) for c in group],
                self.eos_id, self.max_positions, self.max_source_turns))
        flat = self.sequence_log_probs(inputs)
        scores: list[list[float]] = []
        start = 0
        for group in candidates:
            scores.append(flat[start:start + len(group)])
            start += len(group)
        return scores

    def sequence_log_probs(self, inputs: Sequence[tuple[Sequence[int], int]]) -> list[float]:
        """For each ``(ids, prefix_length)``: sum of ``log p(ids[t] | ids[:t])`` for t >= prefix.

        Sequences are right-padded (positions stay 0..L-1, so no position ids are needed) and
        grouped longest-first into batches of at most ``tokens_per_batch`` padded tokens.
        """
        import torch

        device = next(self.model.parameters()).device
        order = sorted(range(len(inputs)), key=lambda i: -len(inputs[i][0]))
        results = [0.0] * len(inputs)
        start = 0
        while start < len(order):
            width = len(inputs[order[start]][0])
            rows = max(1, self.tokens_per_batch // max(width, 1))
            batch = order[start:start + rows]
            start += len(batch)
            ids = torch.full((len(batch), width), self.eos_id, dtype=torch.long)
            mask = torch.zeros((len(batch), width), dtype=torch.long)
            scored = torch.zeros((len(batch), width), dtype=torch.bool)
            for row, index in enumerate(batch):
                sequence, prefix = inputs[index]
                ids[row, :len(sequence)] = torch.tensor(list(sequence), dtype=torch.long)
                mask[row, :len(sequence)] = 1
                scored[row, max(prefix, 1):len(sequence)] = True
            ids, mask, scored = ids.to(device), mask.to(device), scored.to(device)
            with torch.inference_mode():
                logits = self.model(input_ids=ids, attention_mask=mask).logits.float()
            # logits[:, t] predicts ids[:, t + 1]
            log_probs = torch.log_softmax(logits[:, :-1], dim=-1)
            token_log_probs = log_probs.gather(-1, ids[:, 1:, None]).squeeze(-1)
            sums = torch.where(scored[:, 1:], token_log_probs, 0.0).sum(dim=-1)
            for row, index in enumerate(batch):
                results[index] = float(sums[row])
        return results
