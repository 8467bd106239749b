"""The 6k multi-reference Reddit test set, from extracted test conversations and released ids.

``python -m dialogpt.extraction.multiref --data T/test.tsv.gz --ids test-multi-refs-ids.txt
--scored_out ../data/test.scored_refs.txt --out ../data/test.refs.txt``

``--data`` holds ``link_id,parent_id,comment_id<TAB>src<TAB>tgt`` lines (curly double quotes are
made straight). Each ids line is ``multiref<TAB>score,sid,pid,cid<TAB>score,sid,pid,cid...``.
A line whose first reference is not in the data is dropped; a later reference is dropped when it
is missing or its context differs from the first one's. Output: ``src<TAB>score|ref...``
(scored) and the same with every ``<digits>|`` removed (``src<TAB>ref1<TAB>ref2...``).
"""

from __future__ import annotations

import contextlib
import gzip
import logging
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from dialogpt.cli import UserError, check_paths, run_main, setup_logging
from dialogpt.config import build_parser as build_config_parser
from dialogpt.config import flag, parse_config
from dialogpt.fileio import atomic_write

logger = logging.getLogger(__name__)

_SCORE_PREFIX_RE = re.compile(r"[0-9]+\|")


def load_conversations(path: Path, counts: Counter) -> dict[str, tuple[str, str]]:
    """``{ids: (src, tgt)}``; a later line with the same ids replaces an earlier one."""
    data: dict[str, tuple[str, str]] = {}
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as handle:
        for line in handle:
            cells = line.rstrip().replace("“", '"').replace("”", '"').split("\t")
            if len(cells) != 3:
                counts["bad_data_line"] += 1
                continue
            data[cells[0]] = (cells[1], cells[2])
    return data


def scored_lines(data: dict[str, tuple[str, str]], ids_path: Path, counts: Counter
                 ) -> Iterator[str]:
    """The scored multi-reference lines, in the order of the ids file."""
    with open(ids_path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            cells = line.rstrip().split("\t")
            if len(cells) < 2 or "," not in cells[1]:
                counts["bad_id_line"] += 1
                logger.warning("%s:%d: not 'multiref<TAB>score,ids...'; ignored", ids_path, number)
                continue
            if cells[0] != "multiref":
                counts["unexpected_header"] += 1
            score, first = cells[1].split(",", 1)
            if first not in data:
                counts["first_ref_missing"] += 1
                continue
            src, ref = data[first]
            refs = [f"{score}|{ref}"]
            for cell in cells[2:]:
                score, ids = cell.split(",", 1) if "," in cell else (cell, "")
                if ids not in data:
                    counts["ref_missing"] += 1
                elif data[ids][0] != src:
                    counts["ref_context_mismatch"] += 1
                else:
                    refs.append(f"{score}|{data[ids][1]}")
            counts["lines"] += 1
            counts["refs"] += len(refs)
            yield "\t".join([src, *refs])


def strip_scores(line: str) -> str:
    """Remove every ``<digits>|``, as ``sed 's/[0-9]\\+|//g'`` does in the original."""
    return _SCORE_PREFIX_RE.sub("", line)


def build_multiref(data_path: Path, ids_path: Path, out: Path, scored_out: Path | None = None
                   ) -> Counter:
    for path in (data_path, ids_path):
        if not path.is_file():
            raise UserError(f"{path} not found")
    counts: Counter = Counter()
    data = load_conversations(data_path, counts)
    with contextlib.ExitStack() as stack:
        refs_handle = stack.enter_context(atomic_write(out, newline="\n"))
        scored_handle = (stack.enter_context(atomic_write(scored_out, newline="\n"))
                         if scored_out else None)
        for line in scored_lines(data, ids_path, counts):
            if scored_handle is not None:
                scored_handle.write(line + "\n")
            refs_handle.write(strip_scores(line) + "\n")
    return counts


@dataclass
class MultirefConfig:
    """The test conversations ``data`` and the released ``ids`` -> the references ``out``."""

    data: Path = flag(help="test conversations with ids (.tsv.gz or .tsv)", kind=Path)
    ids: Path = flag(help="test-multi-refs-ids.txt", kind=Path)
    out: Path = flag(help="test.refs.txt", kind=Path)
    scored_out: Path | None = flag(None, "test.scored_refs.txt (optional)", kind=Path)


def build_parser():
    return build_config_parser(MultirefConfig, "python -m dialogpt.extraction.multiref", __doc__)


def main(argv=None) -> int:
    config = parse_config(MultirefConfig, build_parser(), argv)
    setup_logging()
    check_paths(input_files={"--data": config.data, "--ids": config.ids},
                output_files={"--out": config.out, "--scored_out": config.scored_out})
    counts = build_multiref(config.data, config.ids, config.out, config.scored_out)
    logger.info("multi-reference set: %s", dict(sorted(counts.items())))
    return 0


if __name__ == "__main__":
    raise SystemExit(run_main(main))
