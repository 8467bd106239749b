"""Hand-worked cases of every feature rule in spec/training.md §1 (pure functions, integer ids)."""

from __future__ import annotations

import pytest

from dialogpt.data.features import (BadLine, Feature, build_eval_feature, build_features,
                                    make_feature, parse_line, parse_turn, parse_turns,
                                    select_turns)

EOS = 9


# ----------------------------------------------------------------------------- parsing
@pytest.mark.parametrize("text, expected", [
    ("0.0 hello  there ", (0.0, "hello there")),   # weight, whitespace normalised
    ("1.0 hi", (1.0, "hi")),
    ("hello there", (1.0, "hello there")),          # no weight: 1.0, first word kept
    ("1 way to go", (1.0, "way to go")),            # any decimal numeral is a weight (original)
    (".5 half", (0.5, "half")),
    ("2e-1 tiny", (0.2, "tiny")),
    ("nan is here", (1.0, "nan is here")),          # float('nan') parses, but is a word here
    ("inf and beyond", (1.0, "inf and beyond")),
    ("1.0x y", (1.0, "1.0x y")),                    # not a numeral: text
    ("\u00a0a\u3000b\u2009", (1.0, "a b")),         # str.split() whitespace, like the original
])
def test_parse_turn(text, expected):
    assert parse_turn(text) == expected


@pytest.mark.parametrize("text, reason", [
    ("", "empty_turn"), ("   ", "empty_turn"), ("0.0", "empty_turn"), ("1.0  ", "empty_turn"),
    ("-1.0 negative", "bad_weight"), ("1e999 overflow", "bad_weight"),
])
def test_parse_turn_rejects(text, reason):
    with pytest.raises(BadLine) as info:
        parse_turn(text)
    assert info.value.reason == reason


def test_parse_turns_splits_on_the_literal_eos_separator():
    assert parse_turns("0.0 a b EOS 1.0 c EOS d") == [(0.0, "a b"), (1.0, "c"), (1.0, "d")]
    assert parse_turns("aEOS b") == [(1.0, "aEOS b")]      # needs spaces on both sides
    assert parse_turns("a  EOS b") == [(1.0, "a"), (1.0, "b")]  # " EOS " inside "  EOS "
    with pytest.raises(BadLine, match="no text"):
        parse_turns("a EOS  EOS b")                       # an empty middle turn


@pytest.mark.parametrize("line, reason", [
    ("", "blank_line"), (" \t ", "blank_line"), ("   ", "blank_line"),
    ("no tab here", "no_tab"), ("a\tb\tc", "extra_tabs"), ("a\tb\t", "extra_tabs"),
    ("\tb", "empty_turn"), ("a\t", "empty_turn"), ("0.0 a EOS \tb", "empty_turn"),
])
def test_parse_line_rejects(line, reason):
    with pytest.raises(BadLine) as info:
        parse_line(line)
    assert info.value.reason == reason


def test_parse_line_keeps_eos_inside_the_response_as_text():
    parsed = parse_line("0.0 a EOS 1.0 b\t1.0 c EOS d")
    assert parsed.context == [(0.0, "a"), (1.0, "b")]
    assert parsed.responses == [(1.0, "c EOS d")]


def test_parse_line_multiple_responses_for_evaluation_files():
    assert parse_line("a\tb\tc", allow_multiple_responses=True).responses == [(1.0, "b"),
                                                                             (1.0, "c")]


# ----------------------------------------------------------------------------- turn selection
def test_weight_zero_response_is_dropped():
    assert select_turns([(0.0, "a"), (1.0, "b")], (0.0, "c")) == [(0.0, "a"), (1.0, "b")]
    assert select_turns([(0.0, "a"), (1.0, "b")], (1.0, "c")) == [(0.0, "a"), (1.0, "b"),
                                                                  (1.0, "c")]


def test_reverse_then_two_turn():
    turns = [(0.0, "a"), (1.0, "b")]
    assert select_turns(turns, (1.0, "c"), reverse=True) == [(1.0, "c"), (1.0, "b"), (0.0, "a")]
    assert select_turns(turns, (1.0, "c"), two_turn=True) == [(0.0, "a"), (1.0, "b")]
    # the original reverses first, then keeps the first two: the response and the last context
    assert select_turns(turns, (1.0, "c"), reverse=True, two_turn=True) == [(1.0, "c"),
                                                                            (1.0, "b")]


# ----------------------------------------------------------------------------- one feature
def test_three_turns_all_weighted():
    feature = make_feature([[1, 2], [3], [4, 5]], [1.0, 1.0, 1.0], EOS)
    assert feature.input_ids == [1, 2, EOS, 3, EOS, 4, 5]          # no EOS after the last turn
    # first turn never predicted; each later turn predicts its tokens and its closing EOS,
    # starting at the EOS before it
    assert feature.labels(EOS) == [-1, -1, 3, EOS, 4, 5, EOS]
    assert feature.token_weights() == [0.0, 0.0, 1.0, 1.0, 1.0, 1.0, 1.0]


def test_first_turn_is_never_predicted_even_with_weight_one():
    feature = make_feature([[1, 2, 3], [4]], [1.0, 1.0], EOS)
    assert feature.labels(EOS) == [-1, -1, -1, 4, EOS]


def test_weight_zero_middle_turn_is_not_predicted_eos_included():
    feature = make_feature([[1, 2], [3], [4, 5]], [1.0, 0.0, 1.0], EOS)
    assert feature.input_ids == [1, 2, EOS, 3, EOS, 4, 5]
    assert feature.labels(EOS) == [-1, -1, -1, -1, 4, 5, EOS]
    assert feature.token_weights() == [0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0]


def test_predicted_turn_between_zero_turns_gives_two_spans():
    feature = make_feature([[1], [2], [3], [4], [5]], [0.0, 1.0, 0.0, 1.0, 0.0], EOS)
    # the trailing weight-0 turn is trimmed with its EOS
    assert feature.input_ids == [1, EOS, 2, EOS, 3, EOS, 4]
    assert feature.labels(EOS) == [-1, 2, EOS, -1, -1, 4, EOS]
    assert feature.spans == ((1, 3, 1.0), (5, 7, 1.0))


def test_trailing_minus_one_labels_are_trimmed_with_their_inputs():
    feature = make_feature([[1, 2], [3, 4], [5, 6, 7]], [0.0, 1.0, 0.0], EOS)
    assert feature.input_ids == [1, 2, EOS, 3, 4]
    assert feature.labels(EOS) == [-1, -1, 3, 4, EOS]


def test_all_zero_example_is_dropped():
    assert make_feature([[1], [2], [3]], [1.0, 0.0, 0.0], EOS) is None
    assert make_feature([[1], [2]], [1.0, 0.0], EOS) is None


def test_non_unit_weights_are_kept_per_token():
    feature = make_feature([[1], [2, 3], [4]], [0.0, 0.5, 2.0], EOS)
    assert feature.labels(EOS) == [-1, 2, 3, EOS, 4, EOS][:len(feature.input_ids)]
    assert feature.token_weights() == [0.0, 0.5, 0.5, 0.5, 2.0, 2.0]


# ----------------------------------------------------------------------------- windowing
def _turns(*lengths):
    """Distinct ids per turn: turn k of length n -> [10k+1, ..., 10k+n]."""
    return [[10 * k + i + 1 for i in range(n)] for k, n in enumerate(lengths)]


def test_conversation_that_fits_is_one_feature():
    built = build_features(_turns(2, 2, 2), [1.0] * 3, EOS, max_seq_len=8)
    assert [f.input_ids for f in built.features] == [[1, 2, EOS, 11, 12, EOS, 21, 22]]
    assert built.stats.windows_cut == 0


def test_window_exactly_max_seq_len_then_restart_from_last_turn():
    # lengths 2,2,2 with max 5: [t0 EOS t1] is 5 tokens, adding t2 would make 8
    built = build_features(_turns(2, 2, 2), [1.0] * 3, EOS, max_seq_len=5)
    assert [f.input_ids for f in built.features] == [[1, 2, EOS, 11, 12], [11, 12, EOS, 21, 22]]
    assert built.features[1].labels(EOS) == [-1, -1, 21, 22, EOS]   # restarted turn is turn 0
    assert built.stats.windows_cut == 1


def test_window_is_cut_before_it_overflows():
    # max 6: the original would emit [t0 t1 t2] = 8 tokens > 6; we emit 5-token windows
    built = build_features(_turns(2, 2, 2, 2), [1.0] * 4, EOS, max_seq_len=6)
    assert [f.input_ids for f in built.features] == [
        [1, 2, EOS, 11, 12], [11, 12, EOS, 21, 22], [21, 22, EOS, 31, 32]]
    assert built.stats.windows_cut == 2


def test_turn_longer_than_max_seq_len_ends_the_window_and_is_skipped():
    built = build_features(_turns(1, 1, 6, 2, 2), [1.0] * 5, EOS, max_seq_len=5)
    assert [f.input_ids for f in built.features] == [[1, EOS, 11], [31, 32, EOS, 41, 42]]
    assert built.stats.long_turns == 1


def test_restart_pair_that_still_overflows_drops_the_older_turn():
    # max 5: t0 (4 tokens) + t1 (3) overflows; [t0] alone cannot restart with t1 either
    built = build_features(_turns(4, 3, 1), [1.0] * 3, EOS, max_seq_len=5)
    assert [f.input_ids for f in built.features] == [[11, 12, 13, EOS, 21]]
    assert built.stats.windows_cut == 1


def test_all_zero_window_is_counted():
    built = build_features(_turns(1, 1), [1.0, 0.0], EOS, max_seq_len=8)
    assert built.features == [] and built.stats.all_zero_windows == 1


def test_single_turn_gives_nothing():
    assert build_features(_turns(3), [1.0], EOS, max_seq_len=8).features == []


# ----------------------------------------------------------------------------- evaluation
def test_eval_feature_predicts_only_the_response_and_its_eos():
    feature = build_eval_feature([[1, 2], [3]], [4, 5], EOS, max_seq_len=16)
    assert feature.input_ids == [1, 2, EOS, 3, EOS, 4, 5]
    assert feature.labels(EOS) == [-1, -1, -1, -1, 4, 5, EOS]


def test_eval_feature_cuts_context_from_the_left_then_response_from_the_right():
    assert build_eval_feature([[1, 2, 3, 4]], [5, 6], EOS, 5).input_ids == [3, 4, EOS, 5, 6]
    cut = build_eval_feature([[1, 2]], [5, 6, 7, 8, 9], EOS, 5)
    assert cut.input_ids == [2, EOS, 5, 6, 7]
    assert cut.labels(EOS) == [-1, 5, 6, 7, EOS]


def test_feature_is_a_value():
    assert Feature([1, EOS, 2], ((1, 3, 1.0),)) == make_feature([[1], [2]], [1.0, 1.0], EOS)
