"""Extract step: one month of dumps -> kept submissions and comments (intermediate TSV).

``python -m dialogpt.extraction.extract 2009-05 --dumps S --out T/train/extract --keep_keys K/2009-05.gz``
writes ``T/train/extract/2009-05/`` (``rs_sub*.tsv.gz``, ``rc_sub*.tsv.gz``, ``report.json``)
atomically: an interrupted or failed run leaves no month directory behind.

Rules, in order (spec: docs/spec/extraction.md, "Extract step rules"):
submissions need ``num_comments >= 2``; a comment needs its ``dep`` key (when a key file is
used), a body other than ``[deleted]``/``[removed]`` without ``>`` or ``&gt;``, a ``link_id`` that
is a kept submission of the same month, and at least 2 words after ``minimal_norm``.
Malformed lines and records with missing fields are counted and skipped.
"""

from __future__ import annotations

import gzip
import json
import logging
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from dialogpt.cli import UserError, check_paths, run_main, setup_logging
from dialogpt.config import build_parser as build_config_parser
from dialogpt.config import flag, parse_config
from dialogpt.extraction import records
from dialogpt.extraction.damage import MalformedTracker
from dialogpt.extraction.progress import tracked
from dialogpt.extraction.readers import DumpReadError, ReadStats, find_dump, iter_lines
from dialogpt.fileio import atomic_dir

logger = logging.getLogger(__name__)

DEFAULT_SPLIT_SIZE = 500_000
_FLUSH_EVERY = 20_000


class _SplitFiles:
    """Gzip writers for ``{prefix}_sub{i}.tsv.gz``, with buffered rows."""

    def __init__(self, directory: Path, prefix: str):
        self.directory, self.prefix = directory, prefix
        self._handles: list[IO[str]] = []
        self._buffers: list[list[str]] = []

    def ensure(self, split: int) -> None:
        while len(self._handles) <= split:
            path = self.directory / f"{self.prefix}_sub{len(self._handles)}.tsv.gz"
            self._handles.append(gzip.open(path, "wt", compresslevel=1, encoding="utf-8",
                                           errors="surrogatepass", newline="\n"))
            self._buffers.append([])

    def add(self, split: int, row: str) -> None:
        buffer = self._buffers[split]
        buffer.append(row)
        if len(buffer) >= _FLUSH_EVERY:
            self._flush(split)

    def _flush(self, split: int) -> None:
        if self._buffers[split]:
            self._handles[split].write("\n".join(self._buffers[split]) + "\n")
            self._buffers[split] = []

    def close(self) -> None:
        for split, handle in enumerate(self._handles):
            self._flush(split)
            handle.close()


def _section(path: Path, stats: ReadStats, kept: int, skipped: Counter,
             malformed: MalformedTracker) -> dict:
    warning = malformed.warning(path, stats.lines)
    if warning:
        logger.warning("%s", warning)
    return {"file": str(path), "lines": stats.lines, "bytes": stats.bytes,
            "kept": kept, "skipped": dict(sorted(skipped.items())),
            **malformed.report(stats.lines)}


def _skip(skip: records.Skip, skipped: Counter, malformed: MalformedTracker,
          stats: ReadStats) -> None:
    skipped[skip.reason] += 1
    if skip.reason == "malformed_json":
        malformed.add(stats)


def extract_submissions(path: Path, files: _SplitFiles, split_size: int
                        ) -> tuple[dict[str, int], dict]:
    """Write kept submissions; return ``{t3_id: split}`` (first split wins) and the report."""
    stats, skipped, malformed = ReadStats(), Counter(), MalformedTracker()
    split_of: dict[str, int] = {}
    kept = 0
    files.ensure(0)
    for line in tracked(iter_lines(path, stats), path, stats):
        try:
            sid, row = records.submission_row(records.parse_json(line))
        except records.Skip as skip:
            _skip(skip, skipped, malformed, stats)
            continue
        split = kept // split_size
        files.ensure(split)
        files.add(split, row)
        if sid in split_of:
            skipped["duplicate_kept"] += 1  # kept again, as the original does; counted only
        split_of.setdefault(sid, split)
        kept += 1
    return split_of, _section(path, stats, kept, skipped, malformed)


def extract_comments(path: Path, files: _SplitFiles, split_of: dict[str, int],
                     dep_keys: set[str] | None) -> dict:
    """Write the kept comments of kept submissions, each to its submission's split."""
    stats, skipped, malformed = ReadStats(), Counter(), MalformedTracker()
    kept = 0
    for line in tracked(iter_lines(path, stats), path, stats):
        try:
            record = records.parse_json(line)
            link_id, comment_id, body = records.comment_fields(record)
            if dep_keys is not None and f"{link_id}\t{comment_id}" not in dep_keys:
                raise records.Skip("not_in_keys")
            reason = records.body_skip_reason(body)
            if reason:
                raise records.Skip(reason)
            split = split_of.get(link_id)
            if split is None:
                raise records.Skip("orphan_link_id")
            row = records.comment_row(record, body)
            if row is None:
                raise records.Skip("too_short")
        except records.Skip as skip:
            _skip(skip, skipped, malformed, stats)
            continue
        files.add(split, row)
        kept += 1
    return _section(path, stats, kept, skipped, malformed)


def extract_month(month: str, dumps_dir: str | Path, out_dir: str | Path,
                  dep_keys: set[str] | None = None, split_size: int = DEFAULT_SPLIT_SIZE) -> dict:
    """Run the extract step for ``month``; returns the report also written to ``report.json``."""
    start = time.perf_counter()
    rs_path = find_dump(dumps_dir, "RS", month)
    rc_path = find_dump(dumps_dir, "RC", month)
    with atomic_dir(Path(out_dir) / month, overwrite=True) as tmp:
        rs_files, rc_files = _SplitFiles(tmp, "rs"), _SplitFiles(tmp, "rc")
        try:
            split_of, rs_report = extract_submissions(rs_path, rs_files, split_size)
            rc_files.ensure(max(split_of.values(), default=0))
            rc_report = extract_comments(rc_path, rc_files, split_of, dep_keys)
        finally:
            rs_files.close()
            rc_files.close()
        report = {"month": month, "step": "extract", "keys": dep_keys is not None,
                  "splits": max(split_of.values(), default=0) + 1,
                  "submissions": rs_report, "comments": rc_report,
                  "seconds": round(time.perf_counter() - start, 3)}
        (tmp / "report.json").write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    return report


@dataclass(kw_only=True)
class ExtractConfig:
    """One month's extract step: the dumps of ``month`` -> ``out/MONTH/``."""

    month: str = flag(help="YYYY-MM of the dumps RS_YYYY-MM.* and RC_YYYY-MM.*", positional=True)
    dumps: str = flag("dumps", "folder holding the monthly dumps (S)")
    out: str = flag(help="folder that receives MONTH/ (T/SIDE/extract)")
    keep_keys: str | None = flag(None, "key file (gzip, link_id TAB t1_id TAB dep|keep): keep "
                                 "only comments with a dep line")
    ignore_keys: bool = flag(False, "do not read --keep_keys at all (new data)", kind=bool)
    split_size: int = flag(DEFAULT_SPLIT_SIZE, "kept submissions per sub-split (the original's; "
                           "it sets output order)", kind=int)
    verbose: bool = flag(False, "debug logging", kind=bool)


def build_parser():
    return build_config_parser(ExtractConfig, "python -m dialogpt.extraction.extract", __doc__)


def main(argv=None) -> int:
    config = parse_config(ExtractConfig, build_parser(), argv)
    setup_logging(config.verbose)
    keep_keys = None if config.ignore_keys else config.keep_keys
    check_paths(input_dirs={"--dumps": config.dumps}, output_dirs={"--out": config.out},
                input_files={"--keep_keys": keep_keys})
    from dialogpt.extraction.keys import load_pair_keys
    dep_keys = load_pair_keys(keep_keys, "dep") if keep_keys else None
    try:
        report = extract_month(config.month, config.dumps, config.out, dep_keys,
                               config.split_size)
    except (FileNotFoundError, DumpReadError) as exc:
        raise UserError(str(exc)) from exc
    logger.info("%s extract: %d/%d submissions, %d/%d comments kept (%.1f s)", config.month,
                report["submissions"]["kept"], report["submissions"]["lines"],
                report["comments"]["kept"], report["comments"]["lines"], report["seconds"])
    return 0


if __name__ == "__main__":
    raise SystemExit(run_main(main))
