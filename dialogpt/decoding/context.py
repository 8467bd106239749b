"""History -> token ids, exactly as training built its features (pure, no torch).

Training features are ``turn_0 EOS turn_1 EOS ... turn_n`` with the model taught to predict each
target turn followed by EOS (spec ``training.md`` §1). So a decoding context is the history turns
*each followed by EOS*: the model then predicts the response's first token, and the response ends
at the next EOS.

Windows. ``max_turns`` keeps the most recent turns. ``max_tokens`` then keeps as many of the most
recent turns as fit whole: an older turn that does not fit is dropped entirely (training windows
always start at a turn boundary, never mid-turn). Only when the newest turn alone is too long is it
cut, keeping its last tokens (the end of a message is what the reply answers). The context is
therefore never longer than ``max_tokens``, which the caller derives from the model's positions.

MMI scoring input (``reverse_scoring_inputs``): the backward model was trained on ``prepro.py
--reverse`` data, i.e. on conversations with their turn order reversed. Scoring ``log P(source |
candidate)`` therefore feeds ``candidate EOS turn_n EOS turn_n-1 EOS ...`` and sums the
log-probabilities of every token after the candidate's EOS, turn-closing EOS tokens included.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

TokenIds = Sequence[int]


@dataclass(frozen=True)
class ContextWindow:
    """A context ready for the model, and what the window left out."""

    ids: list[int]
    """Kept turns, oldest first, each followed by EOS."""
    turns_kept: int
    """How many of the most recent turns are in ``ids`` (the newest possibly cut)."""
    turns_dropped_for_tokens: int
    """Turns inside the ``max_turns`` window that were dropped because they did not fit."""
    tokens_cut: int
    """Tokens removed from the start of the newest turn because it alone did not fit."""
    knowledge_cut: bool = False
    """Seq2seq: the knowledge was shortened or left out to fit."""
    newest_turn_cut: bool = False
    """Seq2seq: the newest turn alone did not fit and only its last words were kept."""
    source: str = ""
    """Seq2seq: the source text the encoder read (empty for causal models)."""

    @property
    def truncated_for_tokens(self) -> bool:
        """True when the token budget (not ``max_turns``) removed anything."""
        return (self.turns_dropped_for_tokens > 0 or self.tokens_cut > 0 or self.knowledge_cut
                or self.newest_turn_cut)


def encode_turn(tokenizer, text: str) -> list[int]:
    """A turn's token ids as ``prepro.py`` encodes them (no special tokens added).

    ``verbose=False`` silences the tokenizer's "longer than the maximum" warning: the windows
    below cut over-long turns before anything reaches a model.
    """
    return tokenizer.encode(text, add_special_tokens=False, verbose=False)


def context_token_budget(n_positions: int, max_new_tokens: int,
                         max_context_tokens: int | None = None) -> int:
    """Tokens the context may use so that context + response never exceed the model's positions.

    ``max_context_tokens`` (``None`` or ``0`` = no extra limit) can only lower the budget.
    Raises ``ValueError`` when ``max_new_tokens`` leaves no room for even one token of context.
    """
    budget = n_positions - max_new_tokens
    if budget < 1:
        raise ValueError(f"a response of up to {max_new_tokens} tokens leaves no room for context "
                         f"in a model with {n_positions} positions")
    if max_context_tokens:
        budget = min(budget, max_context_tokens)
    return budget


def build_context(turns: Sequence[TokenIds], eos_id: int, max_tokens: int,
                  max_turns: int | None = None) -> ContextWindow:
    """Join the most recent ``turns`` (token ids, oldest first) into a context of <= ``max_tokens``.

    ``max_turns`` (``None`` or ``0`` = all) limits how many recent turns are considered. An empty
    ``turns`` gives an empty context.
    """
    if max_tokens < 1:
        raise ValueError(f"max_tokens must be >= 1, got {max_tokens}")
    window = list(turns[-max_turns:]) if max_turns else list(turns)
    kept: list[list[int]] = []
    used = 0
    tokens_cut = 0
    for turn in reversed(window):
        needed = len(turn) + 1
        if used + needed <= max_tokens:
            kept.append([*turn, eos_id])
            used += needed
            continue
        if not kept:
            keep = max_tokens - 1
            tail = list(turn[len(turn) - keep:]) if keep else []
            tokens_cut = len(turn) - keep
            kept.append([*tail, eos_id])
        break
    ids = [token for turn in reversed(kept) for token in turn]
    return ContextWindow(ids=ids, turns_kept=len(kept),
                         turns_dropped_for_tokens=len(window) - len(kept), tokens_cut=tokens_cut)


def reversed_source(turns: Sequence[TokenIds], eos_id: int, max_tokens: int,
                    max_turns: int | None = None) -> list[int]:
    """``turn_n EOS turn_n-1 EOS ...``: the source as the backward model reads it.

    Keeps the most recent turns that fit whole in ``max_tokens`` (``max_turns``: ``None``/``0`` =
    all). When the newest turn alone does not fit, its *first* tokens are kept: in reversed order
    they are what directly follows the candidate.
    """
    window = list(turns[-max_turns:]) if max_turns else list(turns)
    ids: list[int] = []
    for turn in reversed(window):
        needed = len(turn) + 1
        if len(ids) + needed <= max_tokens:
            ids.extend([*turn, eos_id])
            continue
        if not ids:
            ids.extend(turn[:max_tokens])
        break
    return ids


def reverse_scoring_inputs(source_turns: Sequence[TokenIds], candidates: Sequence[TokenIds],
                           eos_id: int, max_positions: int,
                           max_source_turns: int | None = None) -> list[tuple[list[int], int]]:
    """Backward-model inputs for scoring each candidate against one source.

    Returns, per candidate, ``(ids, prefix_length)``: ``ids = candidate EOS reversed_source`` and
    the scored tokens are ``ids[prefix_length:]``. Every candidate is scored on the *same* source
    tokens (the budget is set by the longest candidate), so the scores are comparable. A candidate
    longer than half the positions is cut to its first ``max_positions // 2`` tokens.
    """
    if max_positions < 4:
        raise ValueError(f"max_positions must be >= 4, got {max_positions}")
    limit = max_positions // 2
    cut = [list(candidate[:limit]) for candidate in candidates]
    longest = max((len(candidate) for candidate in cut), default=0)
    source = reversed_source(source_turns, eos_id, max_positions - longest - 1, max_source_turns)
    return [([*candidate, eos_id, *source], len(candidate) + 1) for candidate in cut]
