"""DialoGPT TSV -> GODEL JSON lines, so Reddit data feeds GODEL (seq2seq) training.

    python -m dialogpt.data.convert_tsv --input data/train.tsv --output data/train.jsonl
    python prepro.py --corpus data/train.jsonl --tokenizer T5_DIR     -> a seq2seq DB

One record per TSV line: ``{"Context": "turn EOS turn ...", "Knowledge": "", "Response": ...}``.
Lines are read and parsed exactly as ``prepro.py`` reads TSV (``dialogpt.data.features``: weights,
`` EOS `` separators, whitespace normalised; bad lines skipped and counted with their numbers, or
an error naming FILE:LINE under ``--strict``). Weights as prepro treats them: a weight-0 response
is dropped and the last turn with a non-zero weight (after the first turn) becomes the response,
its earlier turns the context; a line with no such turn is skipped (``all_zero_weights``), one
with a single turn too (``single_turn``). A record has no weight, so a response weight other
than 1 is counted (``weights_not_one``) but not kept. The context is a `` EOS ``-joined string
(GODEL's loaders read nothing else) unless a turn would not survive the split (then a JSON list,
counted as ``context_as_list``).
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from dialogpt.cli import UserError, run_main
from dialogpt.config import build_parser as build_config_parser
from dialogpt.config import flag, parse_config
from dialogpt.data.features import (MALFORMED_REASONS, SKIP_REASONS, BadLine, parse_line,
                                    select_turns)
from dialogpt.data.lines import decode_line, read_raw_lines
from dialogpt.data.skips import SkippedLines, format_skips
from dialogpt.grounding import TURN_SEPARATOR, split_context


@dataclass
class ConvertTsvConfig:
    """One conversion: the TSV ``input`` -> the JSON lines ``output``."""

    input: str = flag(help="DialoGPT TSV corpus (CONTEXT<TAB>RESPONSE, turns joined by ' EOS ', "
                      "optional weights)")
    output: str = flag(help="GODEL JSON lines to write")
    strict: bool = flag(False, "stop with an error at the first malformed line instead of "
                        "skipping and counting it", kind=bool)


def build_parser():
    return build_config_parser(ConvertTsvConfig, "python -m dialogpt.data.convert_tsv",
                               "\n\n".join(__doc__.split("\n\n")[:2]))


def convert_line(text: str) -> tuple[dict, dict[str, int]]:
    """One TSV line (no terminator) -> ``(record, notes)``; raises :class:`BadLine`."""
    parsed = parse_line(text)
    turns = select_turns(parsed.context, parsed.responses[0])
    if len(turns) < 2:
        raise BadLine("single_turn")
    last = max((i for i in range(1, len(turns)) if turns[i][0] != 0), default=None)
    if last is None:
        raise BadLine("all_zero_weights")
    notes = Counter()
    notes["zero_weight_turns_dropped"] = len(turns) - 1 - last
    notes["weights_not_one"] = int(turns[last][0] != 1.0)
    context = [turn for _, turn in turns[:last]]
    joined = TURN_SEPARATOR.join(context)
    if split_context(joined) != context:
        notes["context_as_list"] = 1
    record = {"Context": joined if not notes["context_as_list"] else context, "Knowledge": "",
              "Response": turns[last][1]}
    return record, notes


def convert_file(input_path: str | Path, output_path: str | Path, strict: bool = False) -> dict:
    """Convert ``input_path`` to ``output_path`` (atomically); returns the summary dict."""
    from dialogpt.fileio import atomic_write

    input_path = Path(input_path)
    if not input_path.is_file():
        raise UserError(f"--input {input_path} does not exist")
    read = written = 0
    skipped = SkippedLines()
    notes: Counter = Counter()
    with open(input_path, "rb") as handle, atomic_write(output_path) as out:
        for number, raw in enumerate(read_raw_lines(handle), start=1):
            read += 1
            try:
                record, line_notes = convert_line(decode_line(raw).text)
            except BadLine as exc:
                if strict and exc.reason in MALFORMED_REASONS:
                    raise UserError(f"{input_path}:{number}: {exc}; fix the line, or run without "
                                    "--strict to skip such lines and count them") from None
                skipped.add(number, exc.reason)
                continue
            notes.update(line_notes)
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
            written += 1
        if written == 0:
            raise UserError(f"{input_path}: no line gave a record ({read} read, all skipped: "
                            f"{', '.join(sorted(skipped.reasons)) or 'empty file'}); nothing "
                            "written")
    return {"lines_read": read, "records_written": written, "lines_skipped": skipped.total,
            "skipped": skipped.to_dict(SKIP_REASONS),
            **{name: notes[name] for name in ("zero_weight_turns_dropped", "weights_not_one",
                                              "context_as_list")}}


def format_summary(summary: dict) -> str:
    lines = [f"lines read       {summary['lines_read']}",
             f"records written  {summary['records_written']}",
             f"lines skipped    {summary['lines_skipped']}",
             *format_skips(summary["skipped"])]
    lines.append(f"weight-0 turns after the response dropped {summary['zero_weight_turns_dropped']}"
                 f", response weights other than 1 not kept {summary['weights_not_one']}, "
                 f"contexts written as lists {summary['context_as_list']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from dialogpt.cli import check_paths

    config = parse_config(ConvertTsvConfig, build_parser(), argv)
    check_paths(input_files={"--input": config.input}, output_files={"--output": config.output})
    summary = convert_file(config.input, config.output, config.strict)
    print(f"convert_tsv: {config.input} -> {config.output}\n{format_summary(summary)}",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(run_main(main))
