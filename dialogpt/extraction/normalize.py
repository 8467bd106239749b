"""Text normalisation of Reddit comments, equal to the original extractor's, character for character.

Two levels:

- ``minimal_norm`` (extract step): backslashes removed, ``\\n``/``\\r``/``\\t`` become spaces.
- ``gpt_norm`` (conversation step): hashtags dropped, URLs replaced by ``__url__``, a few
  abbreviations expanded, every character outside a small ASCII set blanked, then split like
  NLTK's ``TweetTokenizer(preserve_case=True)`` and whitespace collapsed.

After blanking, a text only holds ``A-Za-z0-9()[]:,.!?'“”``, spaces and the underscores of
``__url__``/``__mention__``. On that alphabet most of TweetTokenizer's alternatives (HTML tags,
arrows, handles, hashtags, e-mails, emoji sequences, the ``+``/``-`` of numbers) can never match,
so ``_TOKEN_RE`` keeps only the ones that can, in the same order and with the same flags, and runs
on the standard ``re`` engine, several times faster than NLTK's. ``tests/extraction/
test_normalize.py`` checks it against NLTK itself on random strings of that alphabet.

The tokenizer only decides where token boundaries fall (tokens are joined by spaces and
re-split), so what matters is where it splits a run of non-space characters: ``8:30`` becomes
``8: 30`` (an emoticon), ``10:30`` stays whole (a number), ``555 1234x`` becomes
``555 1234 x`` (a phone number), ``Mr.Smith`` stays whole (a naked domain).
"""

from __future__ import annotations

import re

URL_TOKEN = "__url__"
MENTION_TOKEN = "__mention__"

_HTTP_RE = re.compile("http", re.I)  # "http" in text.lower(), for any text
_ILLEGAL_CHARS_RE = re.compile(r"[^A-Za-z0-9()\[\]:,.!?'“” ]")

# TweetTokenizer first shortens any run of 4+ identical non-alphanumeric characters to 3.
_HANG_RE = re.compile(r"([^A-Za-z0-9])\1{3,}")

_BALANCED_PARENS = (r"\([^\s()]{0,255}?\([^\s()]{1,255}\)[^\s()]{0,255}?\)"  # (..(..)..)
                    r"|\([^\s]{1,255}?\)")                                   # (...)
_TOKEN_ALTERNATIVES = (
    # Shortcut, not in NLTK: a run of letters between spaces is one token whichever alternative
    # below would match it (none of them can end inside it or extend past its spaces).
    r"(?<!\S)[A-Za-z]+(?!\S)",
    # "http:" URLs (only possible after a backslash was removed from inside "http").
    rf"https?:[a-z0-9%](?:[^\s()<>{{}}\[\]]+|{_BALANCED_PARENS})+"
    rf"(?:{_BALANCED_PARENS}|[^\s`!()\[\]{{}};:'\".,<>?«»“”‘’])",
    # Naked domains such as "Mr.Smith" or "reddit.com".
    r"[a-z0-9]+(?:\.[a-z0-9]+){0,126}\.[a-z]{2,13}\b",
    # Phone numbers, spaces and dots between the groups included.
    r"(?:[01][ .)]*)?(?:\(?\d{3}[ .)]*)?\d{3}[ .)]*\d{4}",
    # Emoticons: eyes [nose] mouth, or mouth [nose] eyes.
    r"[:8][o']?[)\](\[dp:]|[)\](\[dp:][o']?[:8]",
    # Words with inner apostrophes or underscores.
    r"[a-z](?:[a-z]|['_])+[a-z]",
    # Numbers with one separator.
    r"\d+[,.:]\d+",
    # Plain words.
    r"\w+",
    # Ellipsis dots, possibly spaced.
    r"\.(?: *\.)+",
    # Any other single character.
    r"\S",
)
_TOKEN_RE = re.compile("|".join(f"(?:{alt})" for alt in _TOKEN_ALTERNATIVES), re.I)

_ABBREVIATIONS = (("b/c", "because"), ("j/k", "just kidding"), ("w/o", "without"), ("w/", "with"))


def minimal_norm(text: str) -> str:
    """Extract-step normalisation: drop backslashes, turn newlines and tabs into spaces."""
    return text.replace("\\", "").replace("\n", " ").replace("\r", " ").replace("\t", " ")


def _drop_tags_and_urls(text: str) -> str:
    """Drop words that start with ``#``; cut every word at ``http`` (any case), add `` __url__``."""
    words = []
    for word in text.split():
        if word[0] == "#":
            continue
        at = word.lower().find("http")
        if at >= 0:
            word = word[:at] + " " + URL_TOKEN
        words.append(word.strip())
    return " ".join(words)


def tokenize(text: str) -> list[str]:
    """Split ``text`` (already blanked to the small alphabet) like NLTK's TweetTokenizer."""
    if _HANG_RE.search(text):
        text = _HANG_RE.sub(r"\1\1\1", text)
    return _TOKEN_RE.findall(text)


# What may match across a space: a digit, or dots with whitespace between them (two searches:
# a one-class pattern scans faster than the alternation).
_DIGIT_RE = re.compile("[0-9]")
_SPACED_DOTS_RE = re.compile(r"\.\s+\.")


class _WordTokens(dict):
    """word -> its tokens joined by spaces, computed on first use (at most ``limit`` kept)."""

    limit = 1 << 18

    def __missing__(self, word: str) -> str:
        tokens = " ".join(tokenize(word))
        if len(self) < self.limit:
            self[word] = tokens
        return tokens


_WORD_TOKENS = _WordTokens()


def _tokens_joined(text: str) -> str:
    """``" ".join(tokenize(text))`` with whitespace collapsed, word by word through a cache.

    Only a phone number (digits) or a spaced ellipsis (``". ."``) can match across a space; every
    other alternative of ``_TOKEN_RE`` lies within a run of non-space characters, its
    look-arounds and ``\\b`` see a space or the string's edge alike, and the hang rule's runs of
    one character never mix spaces with others. So without digits or spaced dots the tokens of
    the text are the tokens of its words in order, and each distinct word is split only once
    (Reddit's vocabulary repeats; most words are plain letters).
    """
    if _DIGIT_RE.search(text) or ("." in text and _SPACED_DOTS_RE.search(text)):
        return " ".join(" ".join(tokenize(text)).split())
    return " ".join(map(_WORD_TOKENS.__getitem__, text.split()))


def gpt_norm(text: str) -> str:
    """Conversation-step normalisation of one turn (see the module docstring)."""
    # On ASCII text, lower() cannot create or break an "http" and is cheaper than the search.
    if "#" in text or ("http" in text.lower() if text.isascii() else _HTTP_RE.search(text)):
        text = _drop_tags_and_urls(text)
    if "\\" in text:
        text = text.replace("\\", "")
    if "/" in text:
        for short, long in _ABBREVIATIONS:
            if short in text:
                text = text.replace(short, long)
    # Protect the placeholder tokens from the blanking of "_" characters (both hold "__"); the
    # restoring also turns a "MENTION" or "URL" of the text itself into a placeholder.
    if "__" in text:
        text = text.replace(MENTION_TOKEN, "MENTION").replace(URL_TOKEN, "URL")
    text = _ILLEGAL_CHARS_RE.sub(" ", text)
    if "MENTION" in text:
        text = text.replace("MENTION", MENTION_TOKEN)
    if "URL" in text:
        text = text.replace("URL", URL_TOKEN)
    return _tokens_joined(text)
