"""What every dataset converter shares: dialogs, skip tallies, source files, progress, records.

A converter turns one split's source file(s) into a list of :class:`Dialog`: an id, the topic
where the data has one (stratified few-shot sampling uses it), and the GODEL records the dialog
gives, in file order. A malformed dialog, line or example is skipped and counted by reason in a
:class:`Tally`; a file that is not in the expected format at all raises ``UserError`` naming the
file and the format expected.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from dialogpt.cli import UserError
from dialogpt.grounding import TURN_SEPARATOR

logger = logging.getLogger(__name__)

PROGRESS_SECONDS = 10.0
"""How often a long pass over a source logs how far it got."""


@dataclass
class Dialog:
    """One source dialog and the records it gives (``examples`` may be empty)."""

    id: str
    examples: list[dict] = field(default_factory=list)
    topic: str | None = None


@dataclass(frozen=True)
class SplitSpec:
    """An output split (``valid`` -> ``valid.jsonl``) and the source files it is read from."""

    name: str
    files: tuple[str, ...]
    required: bool = True


@dataclass
class Tally:
    """Skipped items by reason, and plain counters (``dialogs``, ``examples``, ...)."""

    skipped: Counter = field(default_factory=Counter)
    counts: Counter = field(default_factory=Counter)
    info: dict = field(default_factory=dict)
    """Other facts for convert.json (e.g. which chat form was read)."""

    def skip(self, reason: str, count: int = 1) -> None:
        self.skipped[reason] += count


class BadItem(ValueError):
    """A malformed dialog, line or example; ``reason`` is its key in :attr:`Tally.skipped`."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def record(turns: list[str], knowledge: str, response: str) -> dict:
    """A GODEL record as GODEL's converters write it: turns joined by `` EOS ``."""
    return {"Context": TURN_SEPARATOR.join(turns), "Knowledge": knowledge, "Response": response}


def add_example(dialog: Dialog, example: dict, tally: Tally) -> None:
    """Keep ``example`` unless our records format rejects it (spec §1: a non-empty turn and a
    non-empty response), in which case it is counted as ``empty_context`` / ``empty_response``."""
    context = example["Context"]
    if not any(turn.strip() for turn in ([context] if isinstance(context, str) else context)):
        tally.skip("empty_context")
    elif not example["Response"].strip():
        tally.skip("empty_response")
    else:
        dialog.examples.append(example)


def require(condition: bool, reason: str) -> None:
    if not condition:
        raise BadItem(reason)


def text_of(obj: Any, key: str, reason: str | None = None) -> str:
    """``obj[key]`` as a string, else :class:`BadItem` (``reason`` default: ``bad_<key>``)."""
    value = obj.get(key) if isinstance(obj, dict) else None
    if not isinstance(value, str):
        raise BadItem(reason or f"bad_{key.lower()}")
    return value


class Progress:
    """Logs ``label: N unit`` every :data:`PROGRESS_SECONDS` while a long pass runs."""

    def __init__(self, label: str, unit: str = "dialogs"):
        self.label, self.unit, self.count = label, unit, 0
        self._next = time.monotonic() + PROGRESS_SECONDS

    def tick(self) -> None:
        self.count += 1
        if self.count % 1000 == 0 and time.monotonic() >= self._next:
            logger.info("%s: %s %s read", self.label, f"{self.count:,}", self.unit)
            self._next = time.monotonic() + PROGRESS_SECONDS


def load_json(path: Path, expected: str) -> Any:
    """A whole JSON file, or ``UserError`` saying what the file should have been."""
    size = path.stat().st_size
    if size > 50 << 20:
        logger.info("reading %s (%.0f MB)", path, size / 1e6)
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except UnicodeDecodeError as exc:
        raise UserError(f"{path} is not UTF-8 text ({exc.reason}); expected {expected}") from None
    except json.JSONDecodeError as exc:
        hint = " (it looks like JSON lines: one object per line)" if "Extra data" in exc.msg else ""
        raise UserError(f"{path}:{exc.lineno}: not a JSON document{hint}: {exc.msg}; expected "
                        f"{expected}") from None


def load_json_list(path: Path, expected: str) -> list:
    data = load_json(path, expected)
    if not isinstance(data, list):
        raise UserError(f"{path}: the top level is a JSON {type(data).__name__}, not a list; "
                        f"expected {expected}")
    return data


def iter_json_lines(path: Path, tally: Tally, expected: str) -> Iterator[tuple[int, Any]]:
    """``(line number, value)`` of each non-blank line; a line that is not JSON is skipped and
    counted (``bad_json``). A file whose first line is not JSON but that parses as one JSON
    document is the wrong format: ``UserError``."""
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                yield number, json.loads(raw)
            except (UnicodeDecodeError, json.JSONDecodeError):
                if number == 1:
                    _refuse_whole_json(path, expected)
                tally.skip("bad_json")


def _refuse_whole_json(path: Path, expected: str) -> None:
    try:
        with open(path, encoding="utf-8") as handle:
            json.load(handle)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return
    raise UserError(f"{path} is one JSON document, not JSON lines; expected {expected}")


def check_some_good(path: Path, good: int, tally: Tally, expected: str) -> None:
    """A file where nothing at all was usable is in the wrong format: say what was expected."""
    if good == 0 and tally.skipped:
        reasons = ", ".join(f"{reason} {count}" for reason, count in tally.skipped.most_common(3))
        raise UserError(f"{path}: no dialog in the expected format ({reasons}); expected "
                        f"{expected}")
