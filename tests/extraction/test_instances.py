"""The conversation step's shortcuts against the rules they stand for, on random turns.

Each rule is written out literally here (tokens are the whitespace-separated words of the
normalised turn, as in the original) and compared with the regex or batch form the step uses.
"""

from __future__ import annotations

import re

from hypothesis import given, settings, strategies as st

from dialogpt.extraction.instances import (BRACKET_FLAG, CAPS_FLAG, MAX_TARGET_WORD_CHARS,
                                           URL_FLAG, _flags, _LONG_WORD_RE, _REPEATED_RE)

# Normalised turns: tokens of the small alphabet (placeholders, brackets, capitals, curly quotes)
# joined by single spaces, sometimes with a weight prefix.
TOKENS = st.sampled_from(["a", "b", "ab", "A", "ABCD", "ABCDE", "ABCDEFG", "aBCDEFg", "__url__",
                          "__mention__", "_url_", "(", ")", "[", "]", "x(", "“", "”", "1.0",
                          "0.0", ".", "a" * 30, "b" * 31, "c" * 45, "EOS", "URL"])
TURNS = st.lists(TOKENS, max_size=12).map(" ".join)


def literal_flags(text: str) -> int:
    return ((URL_FLAG if "__url__" in text else 0)
            | (BRACKET_FLAG if any(c in text for c in "[]()") else 0)
            | (CAPS_FLAG if re.search("[A-Z]{5,}", text) else 0))


@settings(max_examples=150, deadline=None)
@given(st.lists(TURNS, max_size=12))
def test_flags_of_joined_turns_equal_each_turns_own(texts):
    assert _flags(texts) == [literal_flags(text) for text in texts]


def test_flags_at_the_edges_of_turns():
    texts = ["ABCDE", "", "x", "(", "", "__url__", "ABCD", "EFGH"]
    assert _flags(texts) == [CAPS_FLAG, 0, 0, BRACKET_FLAG, 0, URL_FLAG, 0, 0]
    assert _flags([]) == []


@settings(max_examples=300, deadline=None)
@given(TURNS)
def test_target_regexes_equal_the_token_rules(text):
    tokens = text.split()
    long_word = any(len(token) > MAX_TARGET_WORD_CHARS for token in tokens)
    repeated = any(tokens[i - 2] == tokens[i - 1] == tokens[i] for i in range(2, len(tokens)))
    assert bool(_LONG_WORD_RE.search(text)) == long_word
    assert bool(_REPEATED_RE.search(text)) == repeated


def test_repetitions_are_whole_tokens():
    assert _REPEATED_RE.search("1.0 go go go")
    assert not _REPEATED_RE.search("1.0 go go gone")
    assert not _REPEATED_RE.search("ago go go")
    assert not _REPEATED_RE.search("go go")
