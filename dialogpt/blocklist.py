"""Blocklist files and whole-word matching, shared by the extractor (``--bl_words``,
``--bl_subreddits``) and the server's safe mode (``serve.py --safe``).

A blocklist file holds one word or phrase per line; ``#`` lines are comments. A text is blocked
when an entry occurs in it as a whole word, case-insensitively: not preceded or followed by
``[A-Za-z0-9_]`` (the word characters of ``flashtext``, which the original extractor uses).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Iterable

from dialogpt.cli import UserError


def read_list(path: str | Path) -> list[str]:
    """Entries of a blocklist file: lines not starting with ``#``, right-stripped, non-empty."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"blocklist {path} not found (one entry per line; set the variable empty "
                        "to use none)")
    with open(path, encoding="utf-8") as handle:
        entries = [line.rstrip() for line in handle if not line.startswith("#")]
    return [entry for entry in entries if entry]


class WordBlocklist:
    """Whole-word, case-insensitive matching of blocklisted words and phrases."""

    _WORD_RUN = re.compile(r"[a-z0-9_]+")

    def __init__(self, entries: Iterable[str]):
        entries = {entry.lower() for entry in entries if entry}
        self._words = {entry for entry in entries if self._WORD_RUN.fullmatch(entry)}
        others = sorted(entries - self._words, key=len, reverse=True)
        self._phrases = (re.compile("(?<![a-z0-9_])(?:" + "|".join(map(re.escape, others))
                                    + ")(?![a-z0-9_])") if others else None)

    def __bool__(self) -> bool:
        return bool(self._words) or self._phrases is not None

    def matches(self, text: str) -> bool:
        lowered = text.lower()
        if self._words and not self._words.isdisjoint(self._WORD_RUN.findall(lowered)):
            return True
        return self._phrases is not None and self._phrases.search(lowered) is not None
