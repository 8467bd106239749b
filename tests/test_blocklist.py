"""Blocklist files and whole-word matching (the extractor's and the server's safe mode's)."""

from __future__ import annotations

import pytest

from dialogpt.blocklist import WordBlocklist, read_list


def test_read_list_skips_comments_and_blanks(tmp_path):
    path = tmp_path / "list.txt"
    path.write_text("# comment\nfoo  \n\nBar baz\n", encoding="utf-8")
    assert read_list(path) == ["foo", "Bar baz"]


@pytest.mark.parametrize("text, blocked", [
    ("I like Coffee a lot", True),
    ("coffeecup", False),
    ("decoffee", False),
    ("coffee_cup", False),
    ("coffee, please", True),
    ("that is really good", True),
    ("really  good", False),
    ("really goodness", False),
    ("nothing here", False),
    ("x.f.u.", True),
])
def test_word_blocklist_whole_words_any_case(text, blocked):
    assert WordBlocklist(["coffee", "Really Good", "f.u"]).matches(text) is blocked


def test_empty_blocklist_is_falsy():
    assert not WordBlocklist([])
