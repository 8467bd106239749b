"""Reading contexts from TSV / test.refs.txt files and writing one response per line."""

from __future__ import annotations

import pytest

from dialogpt.cli import UserError
from dialogpt.decoding.inputs import (batches_by_length, context_turns, one_line, read_contexts,
                                      read_lines)


def test_lines_split_on_newline_only(tmp_path):
    path = tmp_path / "in.tsv"
    path.write_bytes("a\u2028b\tr\r\nc\x1cd\n\ne\n".encode())
    assert read_lines(path) == ["a\u2028b\tr", "c\x1cd", "", "e"]
    path.write_bytes(b"no final newline")
    assert read_lines(path) == ["no final newline"]


def test_invalid_utf8_names_file_and_line(tmp_path):
    path = tmp_path / "bad.tsv"
    path.write_bytes(b"fine\nbro\xffken\n")
    with pytest.raises(UserError, match=r"bad\.tsv:2: not valid UTF-8"):
        read_lines(path)
    with pytest.raises(UserError, match="cannot read"):
        read_lines(tmp_path / "missing.tsv")


def test_context_is_the_first_column_split_on_eos_with_weights_dropped():
    assert context_turns("0.0 hello there EOS 1.0 hi !\t1.0 response") == ["hello there", "hi !"]
    assert context_turns("how are you ? EOS fine\tref one\tref two") == ["how are you ?", "fine"]
    assert context_turns("just one turn") == ["just one turn"]
    assert context_turns("   \tresponse") == []


def test_unusable_lines_are_counted_and_keep_their_place(tmp_path):
    path = tmp_path / "in.tsv"
    path.write_text("a EOS b\tr\n\tr\nx EOS  EOS y\tr\nlast\n", encoding="utf-8")
    contexts, problems = read_contexts(path)
    assert contexts == [["a", "b"], [], [], ["last"]]
    assert sorted(problems) == [2, 3]
    assert "empty" in problems[2] and "empty" in problems[3]


def test_one_line_replaces_every_line_break_and_tab():
    text = "a\nb\rc\td\u2028e\x85f\x0bg\x0ch\x1ci\u2029j"
    flat = one_line(text)
    assert flat == "a b c d e f g h i j"
    assert flat.splitlines() == [flat]


def test_batches_group_similar_lengths_and_cover_every_index():
    batches = batches_by_length([3, 9, 1, 9, 5], batch_size=2)
    assert batches == [[1, 3], [4, 0], [2]]
    with pytest.raises(ValueError):
        batches_by_length([1], 0)
