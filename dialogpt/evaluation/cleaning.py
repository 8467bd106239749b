"""Text cleaning applied by the DSTC-7 scorer's ``-c`` / ``--clean`` flag.

The official scorer cleans hypotheses and references identically before any metric is computed,
so every step below (and its order) changes the scores: URLs collapse to ``__url__``, markdown
links keep their text, characters outside a small ASCII set become spaces, nltk's
``TweetTokenizer`` splits the rest, and English contractions are split the PTB way
(``don't`` -> ``do n't``).
"""

from __future__ import annotations

import re
from functools import lru_cache

URL_TOKEN = "__url__"
# Placeholder that survives the character filter below; the filter keeps ASCII letters and the
# input is lower-cased first, so an upper-case word can only come from this substitution.
_URL_PLACEHOLDER = "URL"

_MARKDOWN_LINK = re.compile(r"\[([^\]]*)\] \( *" + URL_TOKEN + r" *\)")
_DISALLOWED_CHAR = re.compile(r"[^A-Za-z0-9():,.!?\"']")
_SPACES = re.compile(r"\s+")

# Order matters: each replacement consumes the space that follows the contraction.
_CONTRACTION_SUFFIXES = ("'s", "'m", "'re", "n't", "'ll", "'ve", "'d", "'em")
_IRREGULAR_NEGATIONS = ((" won't ", " will n't "), (" can't ", " can n't "))


@lru_cache(maxsize=1)
def _tweet_tokenizer():
    from nltk.tokenize import TweetTokenizer  # nltk import costs ~0.3 s; only pay it when cleaning

    return TweetTokenizer(preserve_case=False)


def _mark_urls(text: str) -> str:
    """Cut every whitespace-separated word at its first ``http`` and replace the rest by a URL."""
    words = []
    for word in text.split():
        start = word.find("http")
        if start >= 0:
            word = word[:start] + " " + URL_TOKEN
        words.append(word.strip())
    return " ".join(words)


def clean_text(text: str) -> str:
    """Clean one hypothesis or reference exactly as the official scorer's ``-c`` does."""
    text = _mark_urls(text.lower())
    text = _MARKDOWN_LINK.sub(r"\1", text)
    text = text.replace(URL_TOKEN, _URL_PLACEHOLDER)
    text = _DISALLOWED_CHAR.sub(" ", text)
    text = text.replace(_URL_PLACEHOLDER, URL_TOKEN)

    text = " " + " ".join(_tweet_tokenizer().tokenize(text)) + " "
    for old, new in _IRREGULAR_NEGATIONS:
        text = text.replace(old, new)
    for suffix in _CONTRACTION_SUFFIXES:
        text = text.replace(suffix + " ", " " + suffix + " ")
    return _SPACES.sub(" ", text.strip())
