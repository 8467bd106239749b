"""Output text as tokens arrive: stop strings, and text released only once it is final.

The text is always the tokenizer's decoding of all output tokens so far (special tokens skipped,
no clean-up), so it equals decoding the final ids at once. A stop string ends the output before
its first occurrence. Text that could still turn into a stop string (a suffix that is a prefix of
one), and a trailing replacement character (a multi-byte character split across tokens), are
held back until the next token decides them.
"""

from __future__ import annotations

from typing import Sequence


def decode(tokenizer, ids: Sequence[int]) -> str:
    return tokenizer.decode(list(ids), skip_special_tokens=True,
                            clean_up_tokenization_spaces=False)


def held_back(text: str, stops: Sequence[str]) -> int:
    """Characters at the end of ``text`` that cannot be released yet."""
    hold = 0
    for stop in stops:
        for size in range(min(len(stop) - 1, len(text)), hold, -1):
            if text.endswith(stop[:size]):
                hold = size
                break
    if text.endswith("\ufffd"):
        hold = max(hold, len(text) - len(text.rstrip("\ufffd")))
    return hold


class TextTracker:
    """One request's text: ``update`` after each token returns the newly final text and
    whether a stop string was reached."""

    def __init__(self, tokenizer, stops: Sequence[str]) -> None:
        self.tokenizer = tokenizer
        self.stops = tuple(stops)
        self.released = 0
        self.text = ""

    def update(self, ids: Sequence[int]) -> tuple[str, bool]:
        text = decode(self.tokenizer, ids)
        cut = min((index for index in (text.find(stop) for stop in self.stops) if index >= 0),
                  default=-1)
        if cut >= 0:
            self.text = text[:cut]
            return self.finish(), True
        self.text = text
        end = len(text) - held_back(text, self.stops)
        if end <= self.released:
            return "", False
        delta = text[self.released:end]
        self.released = end
        return delta, False

    def finish(self) -> str:
        """Everything not yet released (the output ended)."""
        delta = self.text[self.released:]
        self.released = len(self.text)
        return delta
