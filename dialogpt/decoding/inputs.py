"""Reading contexts for batch decoding and writing one response per line.

Accepted inputs, one instance per line, the context in the first TAB column:
- a training/eval TSV ``context<TAB>response`` (weights allowed: ``0.0 turn EOS 1.0 turn``);
- the 6k multi-reference file ``test.refs.txt``: ``src<TAB>ref1<TAB>ref2...``;
- GODEL JSON lines (``.jsonl``/``.json``, or ``--format jsonl``): ``Context`` (turns joined by
  `` EOS `` or a list), optional ``Knowledge``, ``Instruction``; ``Response`` is not needed
  (``grounding.parse_record``). A record without ``Knowledge`` / ``Instruction`` gets the
  decoder's defaults (``--knowledge`` / ``--instruction``); a record's own values win.
Turns are split on the literal `` EOS `` and weight prefixes dropped exactly as ``prepro.py`` does
(``dialogpt.data.features.parse_turns``); a weight-0 context turn is still context.

Lines are split on ``\\n`` only (``\\r\\n`` tolerated): Reddit text can hold characters such as
U+2028 that ``str.splitlines`` would treat as line breaks, which would shift every later response
out of alignment with its reference. For the same reason responses are written with every
line-breaking character replaced by a space.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from dialogpt.cli import UserError

INPUT_FORMATS = ("auto", "tsv", "jsonl")


@dataclass(frozen=True)
class DialogInput:
    """One dialog to answer; ``knowledge`` / ``instruction`` None = the decoder's default."""

    turns: list[str]
    knowledge: str | None = None
    instruction: str | None = None

_LINE_BREAKS = "\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029"
_LINE_BREAK_TABLE = str.maketrans({char: " " for char in _LINE_BREAKS + "\t"})


def _raw_lines(path: str | os.PathLike) -> list[bytes]:
    """The file's lines as bytes, split on ``\\n`` only; a final newline does not add a line."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise UserError(f"cannot read input file {path}: {exc.strerror or exc}") from exc
    raw_lines = data.split(b"\n")
    if raw_lines and raw_lines[-1] == b"":
        raw_lines.pop()
    return raw_lines


def read_lines(path: str | os.PathLike) -> list[str]:
    """The lines of a UTF-8 file, split on ``\\n`` only; a final newline does not add a line."""
    lines = []
    for number, raw in enumerate(_raw_lines(path), start=1):
        try:
            lines.append(raw.removesuffix(b"\r").decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise UserError(f"{path}:{number}: not valid UTF-8 ({exc.reason} at byte "
                            f"{exc.start}); re-encode the file as UTF-8") from exc
    return lines


def context_turns(line: str) -> list[str]:
    """The context turns (text only, oldest first) of one input line; ``[]`` for a blank one.

    Raises ``dialogpt.data.features.BadLine`` for a context ``prepro.py`` would reject (an empty
    turn, a negative weight).
    """
    from dialogpt.data.features import parse_turns

    context = line.split("\t", 1)[0]
    if not context.strip():
        return []
    return [text for _weight, text in parse_turns(context)]


def read_contexts(path: str | os.PathLike) -> tuple[list[list[str]], dict[int, str]]:
    """Every line's context turns, and ``{line number: problem}`` for lines without a usable one.

    A problem line (blank, or rejected by ``parse_turns``) gets ``[]`` turns so that outputs stay
    aligned with input lines; the caller reports the problems.
    """
    from dialogpt.data.features import BadLine

    contexts: list[list[str]] = []
    problems: dict[int, str] = {}
    for number, line in enumerate(read_lines(path), start=1):
        try:
            turns = context_turns(line)
        except BadLine as exc:
            turns = []
            problems[number] = str(exc)
        else:
            if not turns:
                problems[number] = "empty context"
        contexts.append(turns)
    return contexts, problems


def input_format(path: str | os.PathLike, fmt: str = "auto") -> str:
    """``tsv`` or ``jsonl``: ``fmt`` unless ``auto``, then by the file's extension."""
    if fmt != "auto":
        return fmt
    return "jsonl" if Path(path).suffix.lower() in (".jsonl", ".json") else "tsv"


def read_dialogs(path: str | os.PathLike, fmt: str = "auto"
                 ) -> tuple[list[DialogInput], dict[int, str]]:
    """Every line's dialog (TSV or GODEL JSONL) and ``{line number: problem}`` (see
    ``read_contexts``: a problem line gets no turns, and so an empty response line)."""
    if input_format(path, fmt) == "tsv":
        contexts, problems = read_contexts(path)
        return [DialogInput(turns) for turns in contexts], problems
    return read_grounded(path)


def read_grounded(path: str | os.PathLike) -> tuple[list[DialogInput], dict[int, str]]:
    """GODEL JSON lines; a line that is not UTF-8, not JSON or not a valid record is a problem
    (named with its reason), never a shift of the later lines."""
    import json

    from dialogpt.grounding import BadRecord, parse_record

    dialogs: list[DialogInput] = []
    problems: dict[int, str] = {}
    for number, raw in enumerate(_raw_lines(path), start=1):
        try:
            obj = json.loads(raw.removesuffix(b"\r").decode("utf-8"))
            record = parse_record(obj, require_response=False)
        except UnicodeDecodeError as exc:
            problems[number] = f"not UTF-8 ({exc.reason} at byte {exc.start})"
        except json.JSONDecodeError as exc:
            problems[number] = f"not JSON ({exc.msg})" if raw.strip() else "empty line"
        except BadRecord as exc:
            problems[number] = str(exc)
        else:
            dialogs.append(DialogInput(
                list(record.turns), obj.get("Knowledge"),
                record.instruction if obj.get("Instruction") is not None else None))
            continue
        dialogs.append(DialogInput([]))
    return dialogs, problems


def one_line(text: str) -> str:
    """``text`` with TABs and every character ``str.splitlines`` breaks on replaced by a space."""
    return text.translate(_LINE_BREAK_TABLE)


def batches_by_length(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    """Indices grouped into batches of similar length, longest first (less left padding).

    Ties keep input order, so the grouping is deterministic.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    return [order[start:start + batch_size] for start in range(0, len(order), batch_size)]
