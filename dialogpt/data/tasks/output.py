"""Writing a conversion: ``SPLIT.jsonl`` (GODEL records) or ``SPLIT.tsv`` (DialoGPT's TSV).

JSONL: one record a line, keys ``Context``, ``Knowledge``, ``Response`` in GODEL's order, then
``Instruction`` (the record's own, else ``--instruction`` when given), non-ASCII kept as is.

TSV (``--to tsv``, for the causal model): ``0.0 turn EOS 0.0 turn ...<TAB>1.0 response``: the
context turns weigh 0 (never predicted), the response 1 (``docs/spec/training.md`` §1). A TSV
line has no place for knowledge or instruction: records that had them are counted
(``knowledge_dropped``, ``instruction_dropped``). Tabs and line breaks inside a text become spaces
(``texts_flattened``); a record whose turn holds `` EOS `` (it would split in two) is skipped
(``eos_in_turn``).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Iterable

from dialogpt.data.tasks.common import Dialog, Tally
from dialogpt.grounding import TURN_SEPARATOR, split_context

OUTPUT_FORMATS = ("jsonl", "tsv")
_BREAKS = re.compile(r"[\t\r\n\v\f\x85\u2028\u2029]+")


def examples_of(dialogs: Iterable[Dialog]):
    for dialog in dialogs:
        yield from dialog.examples


def jsonl_record(example: dict, instruction: str) -> dict:
    out = {"Context": example["Context"], "Knowledge": example["Knowledge"],
           "Response": example["Response"]}
    if example.get("Instruction") or instruction:
        out["Instruction"] = example.get("Instruction") or instruction
    return out


def _flat(text: str, notes: Counter) -> str:
    flat = _BREAKS.sub(" ", text)
    notes["texts_flattened"] += flat != text
    return flat


def tsv_line(example: dict, notes: Counter) -> str | None:
    """The TSV line of one record, or None when a turn holds `` EOS ``."""
    context = example["Context"]
    turns = split_context(context) if isinstance(context, str) else list(context)
    texts = [_flat(turn, notes) for turn in turns] + [_flat(example["Response"], notes)]
    if any(TURN_SEPARATOR in f" {text} " for text in texts):
        return None
    notes["knowledge_dropped"] += bool(example["Knowledge"])
    notes["instruction_dropped"] += bool(example.get("Instruction"))
    return (TURN_SEPARATOR.join(f"0.0 {turn}" for turn in texts[:-1])
            + f"\t1.0 {texts[-1]}")


def write_split(directory: Path, name: str, dialogs: list[Dialog], to: str,
                instruction: str, tally: Tally) -> tuple[str, int, Counter]:
    """Write one split into ``directory``; returns (file name, lines written, notes). A record
    that cannot be written is counted in ``tally``."""
    file_name = f"{name}.{to}"
    notes: Counter = Counter()
    written = 0
    with open(directory / file_name, "w", encoding="utf-8", newline="\n") as out:
        for example in examples_of(dialogs):
            if to == "jsonl":
                line = json.dumps(jsonl_record(example, instruction), ensure_ascii=False)
            else:
                line = tsv_line({**example, "Instruction": example.get("Instruction")
                                 or instruction}, notes)
                if line is None:
                    tally.skip("eos_in_turn")
                    continue
            out.write(line + "\n")
            written += 1
    return file_name, written, notes
