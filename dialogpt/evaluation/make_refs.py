"""Turn a conversation TSV into a references file for ``generate.py`` and ``batch_eval.py``.

``python make_refs.py --tsv data/valid.tsv --out data/test.refs.txt`` (or
``python -m dialogpt.evaluation.make_refs``) reads ``context<TAB>response`` lines (weights such
as ``0.0 turn EOS 1.0 turn<TAB>1.0 response`` allowed, as ``prepro.py`` reads them) and writes
``context<TAB>ref1<TAB>ref2...`` lines, the format of the 6k multi-reference ``test.refs.txt``:

- the context is its turns joined by `` EOS `` without weights: it is the key ``batch_eval.py``
  aligns on, and the input ``generate.py`` decodes;
- lines with the same context are grouped into one line, in order of first appearance; each
  distinct response is a reference (``--max_refs`` of them: 1 gives a single-reference file,
  6 is DSTC-7's), and ``--min_refs`` keeps only contexts with at least that many;
- a response of weight 0.0 (filtered by the extractor) is not a reference; malformed lines are
  skipped and counted with their line numbers.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from dialogpt.cli import UserError, run_main, setup_logging
from dialogpt.config import build_parser as build_config_parser
from dialogpt.config import flag, parse_config

logger = logging.getLogger(__name__)

_WEIGHT = re.compile(r"\d+\.\d+ \S")
_SNIFF_LINES = 50


@dataclass
class RefsResult:
    contexts: int = 0
    references: int = 0
    skipped: Counter = field(default_factory=Counter)
    first_skipped: dict[str, int] = field(default_factory=dict)


def group_references(lines, max_refs: int, stats: RefsResult) -> dict[str, list[str]]:
    """``{context: [distinct responses...]}`` in first-appearance order (see module doc)."""
    from dialogpt.data.features import BadLine, parse_line

    grouped: dict[str, list[str]] = {}
    for number, line in enumerate(lines, start=1):
        try:
            parsed = parse_line(line, allow_multiple_responses=True)
        except BadLine as exc:
            stats.skipped[exc.reason] += 1
            stats.first_skipped.setdefault(exc.reason, number)
            continue
        context = " EOS ".join(text for _weight, text in parsed.context)
        refs = grouped.setdefault(context, [])
        for weight, text in parsed.responses:
            if weight == 0.0:
                stats.skipped["zero_weight_response"] += 1
                stats.first_skipped.setdefault("zero_weight_response", number)
            elif text not in refs and len(refs) < max_refs:
                refs.append(text)
    return grouped


def make_refs(tsv: str | Path, out: str | Path, max_refs: int = 1, min_refs: int = 1,
              max_contexts: int | None = None) -> RefsResult:
    """Write the references of ``tsv`` to ``out`` (atomically); returns the counts."""
    from dialogpt.decoding.inputs import read_lines
    from dialogpt.fileio import atomic_write

    stats = RefsResult()
    grouped = group_references(read_lines(tsv), max_refs, stats)
    kept = [(context, refs) for context, refs in grouped.items() if len(refs) >= max(1, min_refs)]
    stats.skipped["fewer_refs_than_min_refs"] += len(grouped) - len(kept)
    kept = kept[:max_contexts] if max_contexts else kept
    if not kept:
        raise UserError(f"{tsv}: no context with at least {max(1, min_refs)} reference(s); "
                        "expected context<TAB>response lines (lower --min_refs?)")
    with atomic_write(out) as handle:
        for context, refs in kept:
            handle.write("\t".join([context, *refs]) + "\n")
    stats.contexts = len(kept)
    stats.references = sum(len(refs) for _context, refs in kept)
    return stats


def looks_like_training_tsv(path: str | Path) -> bool:
    """True when most of the first lines of ``path`` carry per-turn weights (``1.0 text``) in
    every column, as ``train.tsv``/``valid.tsv`` do and no references file does."""
    weighted = total = 0
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            for _number, line in zip(range(_SNIFF_LINES), handle):
                cells = line.rstrip("\r\n").split("\t")
                if len(cells) < 2:
                    continue
                total += 1
                turns = [turn for cell in cells for turn in cell.split(" EOS ")]
                weighted += all(_WEIGHT.match(turn) for turn in turns)
    except OSError:
        return False
    return total > 0 and weighted * 2 > total


def refuse_training_tsv(path: str | Path, flag: str = "--refs") -> None:
    """Raise a ``UserError`` pointing at this command when ``path`` is a weighted TSV."""
    if looks_like_training_tsv(path):
        stem = Path(path).name.removesuffix(".tsv")
        raise UserError(f"{flag} {path} is a conversation TSV (weighted turns, "
                        "context<TAB>1.0 response), not a references file. Build one with: "
                        f"python make_refs.py --tsv {path} --out {Path(path).parent / stem}"
                        ".refs.txt, then pass that as --refs (and decode the same file)")


@dataclass
class RefsConfig:
    """A ``make_refs.py`` run: the keyword arguments of :func:`make_refs`, one flag each."""

    tsv: str = flag(help="conversation TSV: context<TAB>response (train.tsv, valid.tsv, "
                    "test.tsv)")
    out: str = flag(help="references file to write")
    max_refs: int = flag(1, "references kept per context (1: single-reference; 6: DSTC-7)",
                         kind=int)
    min_refs: int = flag(1, "drop contexts with fewer distinct references", kind=int)
    max_contexts: int | None = flag(None, "keep only the first N contexts (default: all)",
                                    kind=int)

    def validate(self) -> None:
        if self.max_refs < 1:
            raise UserError("--max_refs must be at least 1")


def build_parser():
    return build_config_parser(RefsConfig, "make_refs.py", __doc__)


def main(argv=None) -> int:
    config = parse_config(RefsConfig, build_parser(), argv)
    setup_logging()
    from dialogpt.cli import check_paths

    check_paths(input_files={"--tsv": config.tsv}, output_files={"--out": config.out})
    stats = make_refs(config.tsv, config.out, config.max_refs, config.min_refs,
                      config.max_contexts)
    for reason, count in stats.skipped.items():
        if count:
            where = stats.first_skipped.get(reason)
            logger.warning("skipped %d x %s%s", count, reason,
                           f" (first at {config.tsv}:{where})" if where else "")
    logger.info("%s: %d contexts, %d references (%.2f per context)", config.out, stats.contexts,
                stats.references, stats.references / stats.contexts)
    return 0


if __name__ == "__main__":
    raise SystemExit(run_main(main))
