"""Skip-and-count bookkeeping of a corpus pass: lines skipped by reason, with their numbers.

Shared by prepro's TSV and JSONL paths and the TSV -> JSONL converter, so every summary names
each reason the same way: its count, the first :data:`FIRST_LINES_KEPT` line numbers, and what
the reason means (each caller passes its own ``meanings``: TSV and GODEL records differ).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Mapping

FIRST_LINES_KEPT = 10


@dataclass
class SkippedLines:
    """``reason -> {"count", "first_lines"}`` of the lines a pass skipped."""

    reasons: dict[str, dict] = field(default_factory=dict)

    def add(self, line_number: int, reason: str) -> None:
        entry = self.reasons.setdefault(reason, {"count": 0, "first_lines": []})
        entry["count"] += 1
        if len(entry["first_lines"]) < FIRST_LINES_KEPT:
            entry["first_lines"].append(line_number)

    def add_all(self, skips: Iterable[tuple]) -> None:
        """``(line_number, reason, ...)`` tuples, as the chunk results carry them."""
        for line_number, reason, *_ in skips:
            self.add(line_number, reason)

    @property
    def total(self) -> int:
        return sum(entry["count"] for entry in self.reasons.values())

    def to_dict(self, meanings: Mapping[str, str]) -> dict[str, dict]:
        return {reason: {**entry, "meaning": meanings[reason]}
                for reason, entry in sorted(self.reasons.items())}


def format_skips(skipped: Mapping[str, dict]) -> list[str]:
    """One summary line per reason of a :meth:`SkippedLines.to_dict`: count, first line
    numbers, meaning."""
    lines = []
    for reason, entry in skipped.items():
        more = ", ..." if entry["count"] > len(entry["first_lines"]) else ""
        numbers = ", ".join(map(str, entry["first_lines"])) + more
        lines.append(f"  {reason:<17}{entry['count']:>8}  lines {numbers}  ({entry['meaning']})")
    return lines
