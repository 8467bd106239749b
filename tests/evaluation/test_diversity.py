"""Entropy, distinct-n and average length on a corpus small enough to count by hand."""

from __future__ import annotations

import math

import pytest

from dialogpt.evaluation.diversity import average_length, distinct, entropy

CORPUS = ["a b", "a  c", ""]   # unigrams a a b c, bigrams "a b" "a c"


def test_entropy_by_hand():
    # unigrams: p(a) = 1/2, p(b) = p(c) = 1/4 -> H = 1/2 ln 2 + 2 * 1/4 ln 4 = 3/2 ln 2
    # bigrams: two equally likely -> ln 2; no 3- or 4-grams -> 0
    assert entropy(CORPUS) == pytest.approx((1.5 * math.log(2), math.log(2), 0.0, 0.0))


def test_distinct_by_hand():
    assert distinct(CORPUS) == pytest.approx((3 / 4, 2 / 2))
    assert distinct([""]) == (0.0, 0.0)


def test_average_length_counts_empty_lines():
    assert average_length(CORPUS) == pytest.approx(4 / 3)
    assert average_length([]) == 0.0
