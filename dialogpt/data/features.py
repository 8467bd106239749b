"""TSV line -> training features: the pure rules of DialoGPT's ``prepro.py`` (spec:
``docs/spec/training.md`` §1).

A corpus line is ``CONTEXT<TAB>RESPONSE``; CONTEXT is turns joined by the literal ``" EOS "``.
Every turn may start with a weight token (``0.0``/``1.0`` in extractor output). A feature is::

    input_ids = turn_0 EOS turn_1 EOS ... turn_n            (no EOS after the last turn)
    labels[t] = the token after input_ids[t] (pre-shifted)  or -1 (not predicted)

Turn 0 is never predicted; a later turn of weight w != 0 predicts its tokens and the EOS that
closes it (the label span starts at the EOS *before* the turn); weight-0 turns are -1 throughout.
Trailing -1 positions are trimmed, an all-weight-0 window is dropped. Because the label of a
predicted position is always the next input token (or EOS at the very end), a feature is fully
described by its ``input_ids`` plus its predicted *spans*: that is what :class:`Feature` stores
and what the token DB keeps on disk.

Decisions where the original is silent or fragile (documented, tested):

* A weight is a first token that is a plain decimal numeral (``1``, ``0.0``, ``.5``, ``1e-3``);
  anything else (including ``nan``/``inf`` spellings that Python's ``float`` accepts) is text of
  a weight-1.0 turn. A numeral that is negative or overflows to infinity is a bad weight
  (line skipped, reason ``bad_weight``): a weight must be finite and >= 0.
* Whitespace is normalised as in the original (``" ".join(text.split())``).
* A turn with no text (empty, whitespace only, or a weight alone) skips the line
  (``empty_turn``); the original skipped the first two (printing the exception) but trained on
  a weight alone as an empty turn.
* A line needs exactly one TAB; the original stripped the line first and so also accepted a
  trailing TAB (``CONTEXT<TAB>RESPONSE<TAB>``), which we count as ``extra_tabs``.
* Long conversations are windowed *before* they overflow, so no feature is ever longer than
  ``max_seq_len`` (see :func:`build_features`).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Sequence

EOS_SEPARATOR = " EOS "
"""The literal string that separates context turns in a TSV line."""

_WEIGHT_RE = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")

SKIP_REASONS = {
    "blank_line": "the line is empty or whitespace only",
    "no_tab": "no TAB: expected CONTEXT<TAB>RESPONSE",
    "extra_tabs": "more than one TAB: expected CONTEXT<TAB>RESPONSE",
    "empty_turn": "a turn has no text (empty, whitespace only, or a weight alone)",
    "bad_weight": "a turn's weight is negative or not finite",
    "non_utf8": "the line is not valid UTF-8",
    "line_too_long": "the line is longer than the 1 MB limit",
    "single_turn": "fewer than two turns remain (after dropping a weight-0 response)",
    "all_zero_weights": "every turn after the first has weight 0: nothing to predict",
    "too_long": "no window of >= 2 turns fits in max_seq_len tokens",
}
"""Every reason a line can yield no example, with its human explanation."""

MALFORMED_REASONS = frozenset({"blank_line", "no_tab", "extra_tabs", "empty_turn", "bad_weight",
                               "non_utf8", "line_too_long"})
"""Reasons that mean broken input (an error under ``--strict``); the others are data outcomes."""


class BadLine(ValueError):
    """A line that cannot be parsed; ``reason`` is a key of :data:`SKIP_REASONS`."""

    def __init__(self, reason: str, detail: str = ""):
        self.reason = reason
        self.detail = detail
        super().__init__(SKIP_REASONS[reason] + (f": {detail}" if detail else ""))


def parse_weight(token: str) -> float | None:
    """The weight a turn's first whitespace token stands for, or ``None`` if it is text."""
    if not _WEIGHT_RE.fullmatch(token):
        return None
    weight = float(token)
    if not math.isfinite(weight) or weight < 0:
        raise BadLine("bad_weight", repr(token))
    return weight


def parse_turn(text: str) -> tuple[float, str]:
    """``"0.0 some  text "`` -> ``(0.0, "some text")``; no weight prefix means weight 1.0."""
    words = text.split()
    if words:
        weight = parse_weight(words[0])
        if weight is not None:
            words = words[1:]
        else:
            weight = 1.0
    if not words:
        raise BadLine("empty_turn", repr(text[:80]))
    return weight, " ".join(words)


def parse_turns(text: str) -> list[tuple[float, str]]:
    """Split an ``" EOS "``-joined context into ``[(weight, text), ...]`` (raises :class:`BadLine`)."""
    return [parse_turn(turn) for turn in text.split(EOS_SEPARATOR)]


@dataclass(frozen=True)
class ParsedLine:
    """A parsed TSV line: the context turns and one or more responses, each ``(weight, text)``."""

    context: list[tuple[float, str]]
    responses: list[tuple[float, str]]


def parse_line(line: str, allow_multiple_responses: bool = False) -> ParsedLine:
    """Parse one TSV line (without its line terminator).

    The training format has exactly one TAB. Evaluation files of the original may carry several
    TAB-separated responses per context; ``allow_multiple_responses`` accepts those.
    """
    if not line.strip():
        raise BadLine("blank_line")
    n_tabs = line.count("\t")
    if n_tabs == 0:
        raise BadLine("no_tab")
    if n_tabs > 1 and not allow_multiple_responses:
        raise BadLine("extra_tabs", f"{n_tabs} TABs")
    context, *responses = line.split("\t")
    return ParsedLine(parse_turns(context), [parse_turn(response) for response in responses])


def select_turns(context: Sequence[tuple[float, str]], response: tuple[float, str],
                 reverse: bool = False, two_turn: bool = False) -> list[tuple[float, str]]:
    """The turns that make up the training conversation, in model order.

    A weight-0 response is dropped (the last context turn becomes the final turn); ``reverse``
    reverses the turn order (backward model for MMI), then ``two_turn`` keeps the first two.
    """
    turns = list(context)
    if response[0] != 0:
        turns.append(response)
    if reverse:
        turns.reverse()
    if two_turn:
        turns = turns[:2]
    return turns


@dataclass(frozen=True)
class Feature:
    """One training example: ``input_ids`` plus the predicted spans ``(start, end, weight)``.

    Positions ``start <= t < end`` of a span are predicted with ``weight``; every other position
    has label -1 and weight 0. Spans are sorted, disjoint, non-empty; adjacent spans with the same
    weight are merged, so the common case (everything after turn 0 predicted with weight 1.0) is
    one span. The last span ends at ``len(input_ids)`` (trailing -1 positions are trimmed).
    """

    input_ids: list[int]
    spans: tuple[tuple[int, int, float], ...]

    def labels(self, eos_id: int) -> list[int]:
        """Pre-shifted labels: ``labels[t] = input_ids[t+1]`` (EOS at the end) or -1."""
        following = self.input_ids[1:] + [eos_id]
        labels = [-1] * len(self.input_ids)
        for start, end, _ in self.spans:
            labels[start:end] = following[start:end]
        return labels

    def token_weights(self) -> list[float]:
        """Per-position weights as the original stores them (0.0 where not predicted)."""
        weights = [0.0] * len(self.input_ids)
        for start, end, weight in self.spans:
            weights[start:end] = [weight] * (end - start)
        return weights


def make_feature(turn_ids: Sequence[Sequence[int]], weights: Sequence[float],
                 eos_id: int) -> Feature | None:
    """The feature of one window of turns, or ``None`` if no turn after the first is weighted."""
    if not any(weights[1:]):  # every later weight is 0 (weights are finite)
        return None
    input_ids = list(turn_ids[0])
    spans: list[tuple[int, int, float]] = []
    for ids, weight in zip(turn_ids[1:], weights[1:]):
        start = len(input_ids)
        input_ids.append(eos_id)
        input_ids.extend(ids)
        if weight == 0:
            continue
        end = len(input_ids)
        if spans and spans[-1][1] == start and spans[-1][2] == weight:
            spans[-1] = (spans[-1][0], end, weight)
        else:
            spans.append((start, end, float(weight)))
    del input_ids[spans[-1][1]:]
    return Feature(input_ids, tuple(spans))


@dataclass
class WindowStats:
    """What windowing cut from one conversation (summed into the prepro summary)."""

    windows_cut: int = 0
    """Times a conversation was split (or its oldest turn dropped) to stay within max_seq_len."""
    long_turns: int = 0
    """Turns longer than max_seq_len on their own (skipped; they also end the current window)."""
    all_zero_windows: int = 0
    """Windows of >= 2 turns dropped because no turn after the first has a non-zero weight."""

    def add(self, other: "WindowStats") -> None:
        self.windows_cut += other.windows_cut
        self.long_turns += other.long_turns
        self.all_zero_windows += other.all_zero_windows


@dataclass
class BuiltFeatures:
    features: list[Feature] = field(default_factory=list)
    stats: WindowStats = field(default_factory=WindowStats)


def build_features(turn_ids: Sequence[Sequence[int]], weights: Sequence[float], eos_id: int,
                   max_seq_len: int) -> BuiltFeatures:
    """Window a tokenised conversation into features no longer than ``max_seq_len``.

    A turn longer than ``max_seq_len`` ends the current window (emitted if it has >= 2 turns) and
    is skipped. Before a turn is added that would make the window overflow, the window is emitted
    (if >= 2 turns) and restarts from its last turn (or from nothing if even that pair overflows).
    The original only restarted *after* a window had overflowed and so emitted features longer
    than ``max_seq_len`` (which its loader then silently dropped); whenever none of its windows
    overflows, both rules produce the same features.
    """
    built = BuiltFeatures()
    window_ids: list[Sequence[int]] = []
    window_weights: list[float] = []
    window_len = 0  # length of the window's sequence: tokens plus the EOS between turns

    def emit() -> None:
        if len(window_ids) >= 2:
            feature = make_feature(window_ids, window_weights, eos_id)
            if feature is None:
                built.stats.all_zero_windows += 1
            else:
                built.features.append(feature)

    for ids, weight in zip(turn_ids, weights):
        if len(ids) > max_seq_len:
            emit()
            window_ids, window_weights, window_len = [], [], 0
            built.stats.long_turns += 1
            continue
        if window_ids and window_len + 1 + len(ids) > max_seq_len:
            emit()
            built.stats.windows_cut += 1
            window_ids, window_weights = window_ids[-1:], window_weights[-1:]
            window_len = len(window_ids[0])
            if window_len + 1 + len(ids) > max_seq_len:
                window_ids, window_weights, window_len = [], [], 0
        window_len += len(ids) + (1 if window_ids else 0)
        window_ids.append(ids)
        window_weights.append(weight)
    emit()
    return built


def build_eval_feature(context_ids: Sequence[Sequence[int]], response_ids: Sequence[int],
                       eos_id: int, max_seq_len: int) -> Feature:
    """The evaluation feature of the original's ``DynamicBatchingLoader``: only the response is
    predicted (its tokens and the closing EOS), the context turns are joined by EOS.

    Too long: context tokens are cut from the left (keeping at least one), then the response is
    cut from the right. ``max_seq_len`` must be >= 2.
    """
    context: list[int] = list(context_ids[0])
    for ids in context_ids[1:]:
        context.append(eos_id)
        context.extend(ids)
    response = list(response_ids)
    excess = len(context) + 1 + len(response) - max_seq_len
    if excess > 0:
        keep = max(1, len(context) - excess)
        context = context[len(context) - keep:]
        response = response[:max_seq_len - len(context) - 1]
    input_ids = context + [eos_id] + response
    return Feature(input_ids, ((len(context), len(input_ids), 1.0),))
