"""Normalisation: hand-worked cases, and equality with NLTK's TweetTokenizer on random text."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings, strategies as st

from dialogpt.extraction.normalize import gpt_norm, minimal_norm, tokenize

nltk_casual = pytest.importorskip("nltk.tokenize.casual")


def reference_gpt_norm(text: str) -> str:
    """The spec's steps written out literally, with NLTK's own tokenizer."""
    words = []
    for word in text.split():
        if word[0] == "#":
            continue
        at = word.lower().find("http")
        if at >= 0:
            word = word[:at] + " __url__"
        words.append(word.strip())
    text = " ".join(words).replace("\\", "")
    for short, long in (("b/c", "because"), ("j/k", "just kidding"), ("w/o", "without"),
                        ("w/", "with")):
        text = text.replace(short, long)
    text = text.replace("__mention__", "MENTION").replace("__url__", "URL")
    text = re.sub(r"[^A-Za-z0-9()\[\]:,.!?'“” ]", " ", text)
    text = text.replace("MENTION", "__mention__").replace("URL", "__url__")
    tokens = nltk_casual.TweetTokenizer(preserve_case=True).tokenize(text)
    return " ".join(" ".join(tokens).split())


@pytest.mark.parametrize("raw, expected", [
    ("Hello  world\n", "Hello world"),
    ("I love #python so much", "I love so much"),
    ("see http://x.com/a now", "see __url__ now"),
    ("linkHTTPS://x.com", "link __url__"),
    ("b/c w/o w/ j/k", "because without with just kidding"),
    ("back\\slash", "backslash"),
    ("café & crème", "caf cr me"),
    ("the URL and MENTION", "the __url__ and __mention__"),
    ("at 8:30 or 10:30", "at 8: 30 or 10:30"),
    ("call 555 1234x", "call 555 1234 x"),
    ("Mr.Smith and e.g. U.S.", "Mr.Smith and e . g . U . S ."),
    ("wait..... ok!!!!", "wait ... ok ! ! !"),
    ("“quoted” don't 'tis", "“ quoted ” don't ' tis"),
    ("x :D :p 8D", "x :D :p 8D"),
    ("", ""),
])
def test_gpt_norm_hand_worked(raw, expected):
    assert gpt_norm(raw) == expected


def test_minimal_norm():
    assert minimal_norm("a\\b\nc\rd\te") == "ab c d e"


PIECES = st.sampled_from([
    "a", "b", "D", "p", "o", "O", "x", "e", "g", "Smith", "com", "http", "HTTP", "URL", "MENTION",
    "__url__", "__mention__", "0", "1", "8", "555", "1234", "3", " ", "  ", "\n", "\t", ".", ",",
    ":", "!", "?", "'", "“", "”", "(", ")", "[", "]", "#", "\\", "/", "b/c", "w/", "-", "@", "&",
    "é", "😀", "_", "....", "!!!!",
])


@settings(max_examples=400, deadline=None)
@given(st.lists(PIECES, max_size=30).map("".join))
def test_gpt_norm_equals_reference_with_nltk(text):
    assert gpt_norm(text) == reference_gpt_norm(text)


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet="ab8Dpo01925 .:,!?'()[]_“”", max_size=40))
def test_tokenizer_splits_like_nltk_on_the_normalised_alphabet(text):
    ours = " ".join(" ".join(tokenize(text)).split())
    theirs = " ".join(" ".join(nltk_casual.TweetTokenizer(preserve_case=True).tokenize(text))
                      .split())
    assert ours == theirs


@settings(max_examples=600, deadline=None)
@given(st.lists(st.sampled_from(["a", "b", "D", "p", "o", "x", "e", "com", "Smith", "don't",
                                 "__url__", " ", "  ", ".", ". ", ":", ",", "!", "?", "'", "(",
                                 ")", "[", "]", "_", "“", "”", "....", "!!!!", "8", "0"]),
                max_size=30).map("".join))
def test_word_by_word_tokens_equal_whole_text_tokens(text):
    from dialogpt.extraction.normalize import _tokens_joined

    expected = " ".join(" ".join(tokenize(text)).split())
    assert _tokens_joined(text) == expected
    assert _tokens_joined(text) == expected  # second time through the word cache
