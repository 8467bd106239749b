"""Corpus diversity of the hypotheses: n-gram entropy, distinct-n and average length.

All three split hypotheses on whitespace (``str.split()``), like the official scorer, and are
computed on the text that is scored (the cleaned text with ``--clean``).
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Iterable, Sequence


def _ngrams(lines: Iterable[Sequence[str]], order: int) -> Iterable[tuple[str, ...]]:
    for words in lines:
        for i in range(len(words) - order + 1):
            yield tuple(words[i:i + order])


def entropy(hypotheses: Sequence[str], max_order: int = 4) -> tuple[float, ...]:
    """Entropy (natural log) of the n-gram distribution over all hypotheses, n = 1..max_order.

    ``H_n = -sum_g p(g) ln p(g)`` with ``p(g)`` the share of n-gram ``g`` among all n-grams;
    0 when there are no n-grams of that order.
    """
    tokenized = [line.split() for line in hypotheses]
    scores = []
    for order in range(1, max_order + 1):
        counts = Counter(_ngrams(tokenized, order))
        total = sum(counts.values())
        scores.append(sum(-count / total * (math.log(count) - math.log(total))
                          for count in counts.values()))
    return tuple(scores)


def distinct(hypotheses: Sequence[str], max_order: int = 2) -> tuple[float, ...]:
    """Distinct-n: unique n-grams / total n-grams over the corpus (0 when there are none)."""
    tokenized = [line.split() for line in hypotheses]
    scores = []
    for order in range(1, max_order + 1):
        ngrams = list(_ngrams(tokenized, order))
        scores.append(len(set(ngrams)) / len(ngrams) if ngrams else 0.0)
    return tuple(scores)


def average_length(hypotheses: Sequence[str]) -> float:
    """Mean number of whitespace-separated words per hypothesis (0 for no hypotheses)."""
    if not hypotheses:
        return 0.0
    return sum(len(line.split()) for line in hypotheses) / len(hypotheses)
