"""Reading DSTC-7 references, keys and hypotheses, with errors that name the file and line.

Formats:

* references: ``key<TAB>score|text<TAB>score|text...`` (DSTC-7) or ``key<TAB>text<TAB>...``
  (plain). Like both original scorers, the text of a ``score|text`` cell is what lies between
  its first and second ``|``.
* keys: one key per line.
* hypotheses, ``dstc`` format: the 7-column submission format, key in the first column and the
  response in the last; ``plain`` format: one response per line, aligned with a keys file.

Lines are split like Python's text-mode files (``\\n``, ``\\r\\n`` and ``\\r`` end a line), which
is what the official scorer does. Whatever is odd but recoverable is counted in a
:class:`Diagnostics` and summarised; whatever would misalign scores raises ``UserError``.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from dialogpt.cli import UserError

DSTC_COLUMNS = 7
_LINE_END = re.compile(r"\r\n|\r|\n")
_EXAMPLES_PER_KIND = 3


@dataclass
class Diagnostics:
    """Warnings grouped by kind: a count and the first few messages of each kind."""

    counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    examples: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))

    def warn(self, kind: str, message: str) -> None:
        self.counts[kind] += 1
        if len(self.examples[kind]) < _EXAMPLES_PER_KIND:
            self.examples[kind].append(message)

    def summary(self) -> list[str]:
        lines = []
        for kind, count in self.counts.items():
            lines.append(f"warning: {kind} ({count}x)")
            lines.extend(f"  {example}" for example in self.examples[kind])
            if count > len(self.examples[kind]):
                lines.append(f"  ... and {count - len(self.examples[kind])} more")
        return lines


def read_lines(path: str | Path) -> list[str]:
    """The lines of a UTF-8 text file, as Python's text mode splits them, without line ends."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror or exc}") from exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise UserError(f"{path}:{line}: not valid UTF-8 (byte 0x{raw[exc.start]:02x} at column "
                        f"{column}); re-encode the file as UTF-8, e.g. with iconv") from exc
    text = text.removeprefix("\ufeff")
    lines = _LINE_END.split(text)
    if lines[-1] == "":
        lines.pop()
    return lines


def read_keys(path: str | Path) -> list[str]:
    """Keys in file order, blank lines skipped.

    Only the first TAB-separated column counts, so a references or TSV file also serves as the
    list of its keys (e.g. the alignment of responses decoded from ``test.refs.txt``).
    """
    keys = [line.split("\t", 1)[0] for line in read_lines(path) if line.strip()]
    if not keys:
        raise UserError(f"{path}: no keys; the keys file lists one key per line")
    return keys


@dataclass(frozen=True)
class References:
    """Reference texts per key (score prefixes removed), and where each key was read."""

    path: Path
    texts: dict[str, list[str]]
    line_of: dict[str, int]


def parse_reference_cell(cell: str) -> tuple[str, bool]:
    """``(text, had_score_prefix)``.

    A DSTC-7 cell is ``score|text``: as in the official scorer, the text ends at a second ``|``.
    A cell without a numeric ``score|`` prefix (plain ``test.refs.txt``) is used whole.
    """
    prefix, separator, rest = cell.partition("|")
    if separator and _is_number(prefix):
        return rest.split("|")[0], True
    return cell, False


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def read_references(path: str | Path, keys: set[str] | None, diagnostics: Diagnostics,
                    require_scores: bool) -> References:
    """References of the keys in ``keys`` (all keys when None); other lines are skipped.

    ``require_scores``: warn about cells without a ``score|`` prefix (the DSTC-7 scorer crashes
    on them; the DialoGPT variant accepts plain references).
    """
    path = Path(path)
    texts: dict[str, list[str]] = {}
    line_of: dict[str, int] = {}
    unscored: list[str] = []
    any_scored = False
    for number, line in enumerate(read_lines(path), start=1):
        key, *cells = line.split("\t")
        if keys is not None and key not in keys:
            continue
        if not cells:
            raise UserError(f"{path}:{number}: key {key} has no references; a references line is "
                            "KEY<TAB>score|text<TAB>score|text...")
        if key in texts:
            diagnostics.warn("duplicate reference key; the later line is used",
                             f"{path}:{number}: {key} (first at line {line_of[key]})")
        refs = []
        for position, cell in enumerate(cells, start=1):
            text, had_score = parse_reference_cell(cell)
            any_scored |= had_score
            if not had_score:
                unscored.append(f"{path}:{number}: reference {position} of {key}")
            elif cell.count("|") > 1:
                diagnostics.warn("reference with more than one '|'; as in the official scorer only "
                                 "the text up to the second '|' is kept",
                                 f"{path}:{number}: reference {position} of {key}: {text!r}")
            refs.append(text)
        texts[key] = refs
        line_of[key] = number
    if not texts:
        raise UserError(f"{path}: no references for the scored keys; check --refs and --keys")
    if require_scores and any_scored:  # a plain file (no score anywhere) is a valid format
        for where in unscored:
            diagnostics.warn("reference without a 'score|' prefix among scored ones, used whole "
                             "(the official DSTC-7 scorer crashes here)", where)
    return References(path, texts, line_of)


@dataclass(frozen=True)
class Hypotheses:
    """Responses per key (only keys of the keys file), and the line each came from."""

    path: Path
    texts: dict[str, str]
    line_of: dict[str, int]


def detect_format(path: str | Path, keys: set[str]) -> str:
    """``dstc`` when some line is TAB-separated with a key of ``keys`` first, else ``plain``."""
    for line in read_lines(path):
        if "\t" in line and line.split("\t", 1)[0] in keys:
            return "dstc"
    return "plain"


def read_dstc_hypotheses(path: str | Path, keys: set[str],
                         diagnostics: Diagnostics) -> Hypotheses:
    """Responses from a DSTC-7 submission: key in column 1, response in the last column."""
    path = Path(path)
    texts: dict[str, str] = {}
    line_of: dict[str, int] = {}
    skipped = 0
    for number, line in enumerate(read_lines(path), start=1):
        key, *cells = line.split("\t")
        if key not in keys:
            skipped += 1
            continue
        if not cells:
            raise UserError(f"{path}:{number}: no TAB-separated response after key {key}; a "
                            f"submission line has {DSTC_COLUMNS} TAB-separated columns, the key "
                            "first and the response last (use --format plain for one response "
                            "per line)")
        if len(cells) + 1 != DSTC_COLUMNS:
            diagnostics.warn(f"submission line without {DSTC_COLUMNS} columns; the last column is "
                             "used as the response",
                             f"{path}:{number}: {len(cells) + 1} columns")
        if key in texts:
            diagnostics.warn("duplicate hypothesis key; the later line is used",
                             f"{path}:{number}: {key} (first at line {line_of[key]})")
        texts[key] = cells[-1]
        line_of[key] = number
    if skipped:
        diagnostics.warn("hypothesis lines whose key is not in the keys file were ignored",
                         f"{path}: {skipped} lines")
    return Hypotheses(path, texts, line_of)


def read_plain_hypotheses(path: str | Path, align_keys: Sequence[str], align_path: str | Path,
                          keys: set[str], diagnostics: Diagnostics) -> Hypotheses:
    """Responses one per line, line i belonging to ``align_keys[i]``; counts must agree."""
    path = Path(path)
    lines = read_lines(path)
    if len(lines) != len(align_keys):
        raise UserError(
            f"{path} has {len(lines)} lines but {align_path} has {len(align_keys)} keys: a plain "
            "hypothesis file needs exactly one line per key, in key order (an empty line for an "
            "empty response); scoring anyway would pair responses with the wrong contexts")
    texts: dict[str, str] = {}
    line_of: dict[str, int] = {}
    for number, (key, text) in enumerate(zip(align_keys, lines), start=1):
        if key not in keys:
            continue
        if key in texts:
            diagnostics.warn("key listed twice in the alignment keys; the later line is used",
                             f"{path}:{number}: {key} (first at line {line_of[key]})")
        texts[key] = text
        line_of[key] = number
    return Hypotheses(path, texts, line_of)


def check_coverage(hypotheses: Hypotheses, references: References, keys_path: str | Path,
                   n_keys: int, diagnostics: Diagnostics) -> list[str]:
    """Sorted scored keys; every one must have references, missing hypotheses are counted."""
    scored = sorted(hypotheses.texts)
    if not scored:
        raise UserError(f"{hypotheses.path}: no hypothesis has a key listed in {keys_path}; check "
                        "that --keys (and --align_keys for plain files) match the hypotheses")
    unreferenced = [key for key in scored if key not in references.texts]
    if unreferenced:
        first = unreferenced[0]
        raise UserError(
            f"{hypotheses.path}:{hypotheses.line_of[first]}: key {first} has no references in "
            f"{references.path} ({len(unreferenced)} such keys); every scored key needs a line in "
            "the references file")
    if len(scored) < n_keys:
        diagnostics.warn("keys of the keys file without a hypothesis were not scored",
                         f"{hypotheses.path}: {n_keys - len(scored)} of {n_keys} keys missing")
    return scored


def select_reference_streams(references: References, keys: Sequence[str], n_refs: int,
                             vshuman: int) -> list[list[str]]:
    """``n_refs`` reference streams aligned with ``keys`` (the official selection rule).

    Stream i takes reference ``i % n`` of each key (``n`` references), except that reference
    number ``vshuman`` (the human response) is replaced by the next one, ``(i + 1) % n``.
    """
    streams: list[list[str]] = [[] for _ in range(n_refs)]
    for key in keys:
        refs = references.texts[key]
        for i, stream in enumerate(streams):
            index = i % len(refs)
            if index == vshuman:
                index = (index + 1) % len(refs)
            stream.append(refs[index])
    return streams


@dataclass(frozen=True)
class GroundedReferences:
    """GODEL JSONL references: the response and knowledge of every usable record, with its line.

    ``n_lines`` counts every line of the file: hypothesis files from ``generate.py`` have one line
    per input line (an empty one where the input line was unusable), so line ``n`` of the
    hypotheses answers the record on line ``n``.
    """

    path: Path
    n_lines: int
    lines: tuple[int, ...]
    responses: tuple[str, ...]
    knowledge: tuple[str, ...]


def read_grounded_references(path: str | Path, diagnostics: Diagnostics) -> GroundedReferences:
    """Records with a non-empty ``Response`` (``grounding.parse_record``); other lines are
    skipped and counted in ``diagnostics`` by reason, with their line numbers."""
    from dialogpt.data.features import BadLine
    from dialogpt.data.lines import read_raw_lines
    from dialogpt.data.seq2seq import parse_jsonl_line
    from dialogpt.grounding import BadRecord

    path = Path(path)
    lines, responses, knowledge = [], [], []
    n_lines = 0
    try:
        with open(path, "rb") as handle:
            for n_lines, raw in enumerate(read_raw_lines(handle), start=1):
                try:
                    record, _, _ = parse_jsonl_line(raw, "")
                except (BadLine, BadRecord) as exc:
                    diagnostics.warn(f"reference lines skipped ({exc.reason}); their hypotheses "
                                     "are not scored", f"{path}:{n_lines}")
                    continue
                lines.append(n_lines)
                responses.append(record.response)
                knowledge.append(record.knowledge)
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror or exc}") from exc
    if not lines:
        raise UserError(f"{path}: no usable GODEL record (JSON lines with 'Context' and a "
                        f"non-empty 'Response'; {n_lines} lines read)")
    return GroundedReferences(path, n_lines, tuple(lines), tuple(responses), tuple(knowledge))


def read_aligned_hypotheses(path: str | Path, references: GroundedReferences) -> list[str]:
    """The hypotheses of the scored records: line ``n`` of ``path`` answers reference line ``n``."""
    hypotheses = read_lines(path)
    if len(hypotheses) != references.n_lines:
        raise UserError(
            f"{path} has {len(hypotheses)} lines but {references.path} has {references.n_lines}: "
            "hypotheses of JSONL references go one per input line, in order (what generate.py "
            "writes, an empty line for an unusable record); scoring anyway would pair responses "
            "with the wrong records")
    return [hypotheses[line - 1] for line in references.lines]
