"""Safe mode: ban blocklisted words while generating, and never return a reply that holds one.

The blocklist is the extractor's words blocklist format (``dialogpt.blocklist``): one word
or phrase per line, ``#`` lines are comments, matched as whole words, case-insensitively.

Two layers:
1. While generating, ``bad_words_ids`` forbids the token sequences of every entry in the
   spellings a model is likely to produce (lower, Capitalised, UPPER; with and without a leading
   space). Banning is token-level: other spellings (``f.u.c.k``, other splits into tokens,
   misspellings) are not banned.
2. After generating, every reply is checked with the extractor's whole-word matcher
   (``dialogpt.blocklist.WordBlocklist``). A reply that matches is resampled (sampling, so a new
   reply is possible even for greedy requests) up to ``retries`` times; if it still matches, the
   fixed ``neutral_reply`` is returned instead.
Neither layer understands meaning: offensive replies made of allowed words pass.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dialogpt.cli import UserError

DEFAULT_BLOCKLIST = Path(__file__).with_name("blocklist.txt")
NEUTRAL_REPLY = "Let's talk about something else."


def spellings(entry: str) -> list[str]:
    """The surface forms of a blocklist entry that generation bans."""
    forms = {entry, entry.lower(), entry.capitalize(), entry.upper(), entry.title()}
    return sorted({prefix + form for form in forms for prefix in ("", " ")})


@dataclass
class SafetyFilter:
    entries: list[str]
    neutral_reply: str = NEUTRAL_REPLY
    retries: int = 3

    def __post_init__(self) -> None:
        from dialogpt.blocklist import WordBlocklist

        self.matcher = WordBlocklist(self.entries)
        if self.matcher.matches(self.neutral_reply):
            raise UserError(f"--safe_reply {self.neutral_reply!r} contains a blocklisted word; "
                            "choose a reply without one")
        if self.retries < 0:
            raise UserError("--safe_retries must be >= 0")

    @classmethod
    def from_file(cls, path: str | Path | None, neutral_reply: str = NEUTRAL_REPLY,
                  retries: int = 3) -> SafetyFilter:
        from dialogpt.blocklist import read_list

        entries = read_list(path or DEFAULT_BLOCKLIST)
        if not entries:
            raise UserError(f"--safe {path or DEFAULT_BLOCKLIST}: the blocklist has no entries "
                            "(one word or phrase a line; # lines are comments)")
        return cls(entries, neutral_reply, retries)

    def blocks(self, text: str) -> bool:
        return self.matcher.matches(text)

    def bad_words_ids(self, tokenizer) -> list[list[int]]:
        """Token sequences to forbid during generation (deduplicated, special tokens left out)."""
        special = set(getattr(tokenizer, "all_special_ids", []) or [])
        sequences: set[tuple[int, ...]] = set()
        for entry in self.entries:
            for form in spellings(entry):
                ids = tuple(tokenizer.encode(form, add_special_tokens=False))
                if ids and not special.intersection(ids):
                    sequences.add(ids)
        return [list(ids) for ids in sorted(sequences)]

