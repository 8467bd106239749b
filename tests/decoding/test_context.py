"""Context windows and MMI scoring inputs, checked against hand-built token lists."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dialogpt.decoding.context import (build_context, context_token_budget, reverse_scoring_inputs,
                                       reversed_source)

EOS = 0


def test_each_turn_is_followed_by_eos_like_training_features():
    window = build_context([[11, 12], [13], [14, 15, 16]], EOS, max_tokens=100)
    assert window.ids == [11, 12, EOS, 13, EOS, 14, 15, 16, EOS]
    assert (window.turns_kept, window.turns_dropped_for_tokens, window.tokens_cut) == (3, 0, 0)
    assert not window.truncated_for_tokens


def test_max_turns_keeps_the_last_turns():
    turns = [[1], [2, 2], [3], [4, 4, 4]]
    assert build_context(turns, EOS, 100, max_turns=2).ids == [3, EOS, 4, 4, 4, EOS]
    assert build_context(turns, EOS, 100, max_turns=1).ids == [4, 4, 4, EOS]
    assert build_context(turns, EOS, 100, max_turns=0).ids == build_context(turns, EOS, 100).ids
    window = build_context(turns, EOS, 100, max_turns=2)
    assert window.turns_kept == 2 and not window.truncated_for_tokens


def test_token_budget_drops_older_turns_whole():
    turns = [[1, 1, 1], [2, 2], [3]]
    # 3 tokens + EOS for each turn: [1,1,1,E] 4, [2,2,E] 3, [3,E] 2.
    assert build_context(turns, EOS, 9).ids == [1, 1, 1, EOS, 2, 2, EOS, 3, EOS]
    eight = build_context(turns, EOS, 8)
    assert eight.ids == [2, 2, EOS, 3, EOS]
    assert (eight.turns_kept, eight.turns_dropped_for_tokens) == (2, 1)
    assert build_context(turns, EOS, 4).ids == [3, EOS]


def test_newest_turn_too_long_keeps_its_end():
    window = build_context([[9], list(range(1, 11))], EOS, max_tokens=4)
    assert window.ids == [8, 9, 10, EOS]
    assert (window.turns_kept, window.turns_dropped_for_tokens, window.tokens_cut) == (1, 1, 7)
    assert build_context([[5, 6]], EOS, max_tokens=1).ids == [EOS]


def test_empty_history_gives_empty_context():
    assert build_context([], EOS, 10).ids == []
    with pytest.raises(ValueError):
        build_context([[1]], EOS, 0)


@given(turns=st.lists(st.lists(st.integers(1, 50), max_size=12), max_size=8),
       max_tokens=st.integers(1, 40), max_turns=st.integers(0, 5))
def test_window_is_a_suffix_that_fits(turns, max_tokens, max_turns):
    full = [token for turn in turns for token in (*turn, EOS)]
    ids = build_context(turns, EOS, max_tokens, max_turns).ids
    assert len(ids) <= max_tokens
    assert ids == full[len(full) - len(ids):]
    if turns:
        assert ids and ids[-1] == EOS


def test_budget_leaves_room_for_the_response():
    assert context_token_budget(1024, 64) == 960
    assert context_token_budget(1024, 64, max_context_tokens=100) == 100
    assert context_token_budget(1024, 64, max_context_tokens=5000) == 960
    with pytest.raises(ValueError, match="no room"):
        context_token_budget(64, 64)


def test_reverse_input_is_candidate_eos_then_turns_newest_first():
    # prepro --reverse trains on "turn_n EOS ... turn_0"; the candidate is the newest turn.
    source = [[1, 2], [3]]
    inputs = reverse_scoring_inputs(source, [[7], [8, 8]], EOS, max_positions=64)
    assert inputs == [([7, EOS, 3, EOS, 1, 2, EOS], 2), ([8, 8, EOS, 3, EOS, 1, 2, EOS], 3)]
    only_last = reverse_scoring_inputs(source, [[7]], EOS, 64, max_source_turns=1)
    assert only_last == [([7, EOS, 3, EOS], 2)]


def test_reverse_inputs_score_the_same_source_for_every_candidate():
    # 8 positions, longest candidate 2 tokens + EOS: the source gets 5 tokens.
    source = [[1, 1, 1], [2, 2, 2]]
    inputs = reverse_scoring_inputs(source, [[7], [8, 8]], EOS, max_positions=8)
    assert inputs == [([7, EOS, 2, 2, 2, EOS], 2), ([8, 8, EOS, 2, 2, 2, EOS], 3)]
    assert all(len(ids) <= 8 for ids, _ in inputs)
    assert {tuple(ids[prefix:]) for ids, prefix in inputs} == {(2, 2, 2, EOS)}


def test_reversed_source_cuts_an_overlong_newest_turn_to_its_start():
    assert reversed_source([[1], [5, 6, 7, 8]], EOS, max_tokens=3) == [5, 6, 7]
    assert reversed_source([[1], [5]], EOS, max_tokens=10) == [5, EOS, 1, EOS]
