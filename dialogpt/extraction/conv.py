"""Conversation step: one month's extract output -> ``MONTH.tsv.gz`` of instances with ids.

``python -m dialogpt.extraction.conv 2009-05 --extract_dir T/train/extract --out T/train/conv ...``
reads ``T/train/extract/2009-05/{rs,rc}_sub*.tsv.gz`` and writes, atomically,
``T/train/conv/2009-05.report.json`` (extract and conversation counters, every skip reason) and
then ``T/train/conv/2009-05.tsv.gz`` with lines ``link_id,parent_id,comment_id<TAB>src<TAB>tgt``
sorted by ``(link_id, parent_id, comment_id)`` within each sub-split. Re-running replaces both; a
month with no instance gives an empty file.

``--workers N`` builds the instances of a split in N forked processes (contiguous slices of the
sorted targets, so the output order is unchanged); it pays on months with hundreds of thousands of
comments when cores are free. ``make -j`` already runs months in parallel.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from itertools import repeat
from pathlib import Path
from typing import Iterator

from dialogpt.cli import UserError, check_paths, run_main, setup_logging
from dialogpt.config import build_parser as build_config_parser
from dialogpt.config import parse_config
from dialogpt.extraction.conv_config import ConvConfig
from dialogpt.extraction.instances import ConvFilters, ConvOptions, ConvStats, Target, \
    ThreadBuilder
from dialogpt.extraction.records import COMMENT_FIELDS, COMMENT_TAG, Comment, Submission, \
    read_submission_row
from dialogpt.extraction.readers import gunzip, gzip_text_writer
from dialogpt.fileio import atomic_write
from dialogpt.gc_pause import gc_paused

logger = logging.getLogger(__name__)

_SHARED: tuple[ThreadBuilder, list[Target]] | None = None  # inherited by forked workers
PARALLEL_MIN_IDS = 5_000  # fewer targets than this: forking costs more than it saves


def _read_rows(path: Path) -> list[str]:
    """The lines of a gzip TSV (split at ``\\n`` only), decompressed and split in one go.

    Split as bytes, then decoded line by line: one emoji would make a decoded month 4 bytes a
    character, and split lines are stored compactly anyway.
    """
    rows = gunzip(path.read_bytes()).split(b"\n")
    if rows[-1] == b"":
        rows.pop()  # the final newline (or an empty file)
    return list(map(str, rows, repeat("utf-8"), repeat("surrogatepass")))


def load_split(directory: Path, split: int, stats: ConvStats
               ) -> tuple[dict[str, Submission], dict[str, Comment]]:
    """Submissions and comments of one split; a later duplicate id replaces an earlier one."""
    submissions: dict[str, Submission] = {}
    for line in _read_rows(directory / f"rs_sub{split}.tsv.gz"):
        parsed = read_submission_row(line)
        if parsed is not None:
            submissions[parsed[0]] = parsed[1]
    comments: dict[str, Comment] = {}
    links: dict[str, str] = {}  # one string object per link_id saves memory on big months
    rows = _read_rows(directory / f"rc_sub{split}.tsv.gz")
    bad = 0
    n_fields, new = len(COMMENT_FIELDS), tuple.__new__  # new(Comment, ...): no Python call
    for line in rows:
        cells = line.strip().split("\t")  # a COMMENT_FIELDS row, parsed inline (hot loop)
        if len(cells) < n_fields:
            bad += 1
            continue
        link = links.setdefault(cells[3], cells[3])
        comments[COMMENT_TAG + cells[0]] = new(Comment, (cells[2], link, cells[4], cells[6]))
    duplicates = len(rows) - bad - len(comments)  # each replaced an earlier row
    if bad:
        stats.skipped["bad_row"] += bad
    if duplicates:
        stats.skipped["duplicate_comment"] += duplicates
    return submissions, comments


def _build_slice(bounds: tuple[int, int]) -> tuple[list[str], ConvStats]:
    builder, targets = _SHARED
    stats = ConvStats()
    lines = list(builder.build(targets[bounds[0]:bounds[1]], stats))
    return lines, stats


def _build_parallel(builder: ThreadBuilder, targets: list[Target], workers: int,
                    stats: ConvStats) -> Iterator[str]:
    import multiprocessing

    from dialogpt.interrupts import reset_in_worker

    global _SHARED
    _SHARED = builder, targets  # forked, not pickled: a task is its bounds only
    step = -(-len(targets) // workers)
    bounds = [(start, min(start + step, len(targets))) for start in range(0, len(targets), step)]
    pool = multiprocessing.get_context("fork").Pool(workers, initializer=reset_in_worker)
    try:
        for lines, part in pool.imap(_build_slice, bounds):
            stats.add(part)
            yield from lines
        pool.close()  # the workers exit on their own and are reaped
        pool.join()
    finally:
        pool.terminate()  # after an error: stop them (SIGTERM kills them: reset_in_worker)
        pool.join()
        _SHARED = None


def convert_month(month: str, extract_dir: str | Path, out_dir: str | Path, options: ConvOptions,
                  filters: ConvFilters, workers: int = 1) -> dict:
    """Run the conversation step for ``month``; returns the report."""
    start = time.perf_counter()
    month_dir = Path(extract_dir) / month
    extract_report_path = month_dir / "report.json"
    if not extract_report_path.is_file():
        raise UserError(f"{month_dir} holds no complete extract output (report.json missing); "
                        "run the extract step for this month first")
    extract_report = json.loads(extract_report_path.read_text(encoding="utf-8"))
    out_dir = Path(out_dir)
    stats, comments_total = ConvStats(), 0
    tmp_lines = out_dir / f".{month}.lines.tmp"
    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        with gzip_text_writer(tmp_lines, compresslevel=1) as out, gc_paused():
            for split in range(extract_report["splits"]):
                submissions, comments = load_split(month_dir, split, stats)
                comments_total += len(comments)
                builder = ThreadBuilder(submissions, comments, options, filters)
                targets = builder.targets(stats)
                lines = (_build_parallel(builder, targets, workers, stats)
                         if workers > 1 and len(targets) > PARALLEL_MIN_IDS
                         else builder.build(targets, stats))
                batch: list[str] = []
                for line in lines:
                    batch.append(line)
                    if len(batch) >= 10_000:
                        out.write("\n".join(batch) + "\n")
                        batch = []
                if batch:
                    out.write("\n".join(batch) + "\n")
        report = {
            "month": month, "extract": extract_report,
            "conv": {"comments": comments_total, "candidates": stats.candidates,
                     "instances": stats.instances,
                     "skipped": dict(sorted(stats.skipped.items())),
                     "avg_target_tokens": _mean(stats.target_tokens, stats.instances),
                     "avg_context_turns": _mean(stats.context_turns, stats.instances),
                     "avg_context_tokens": _mean(stats.context_tokens, stats.instances),
                     "options": dataclasses.asdict(options),
                     "seconds": round(time.perf_counter() - start, 3)}}
        with atomic_write(out_dir / f"{month}.report.json") as handle:
            handle.write(json.dumps(report, indent=1) + "\n")
        tmp_lines.replace(out_dir / f"{month}.tsv.gz")
    finally:
        tmp_lines.unlink(missing_ok=True)
    return report


def _mean(total: int, count: int) -> float:
    return round(total / count, 3) if count else 0.0


def build_parser():
    return build_config_parser(ConvConfig, "python -m dialogpt.extraction.conv", __doc__)


def build_filters(keep_keys: str | None = None, discard_keys: str | None = None,
                  ignore_keys: bool = False, bl_words: str | None = None,
                  bl_subreddits: str | None = None) -> ConvFilters:
    """Read the key files and blocklists named (``ignore_keys``: no key file is read)."""
    from dialogpt.blocklist import WordBlocklist, read_list
    from dialogpt.extraction.keys import load_discard_hashes, load_tagged_keys
    filters = ConvFilters()
    if not ignore_keys:
        if keep_keys:
            filters.keep_keys = load_tagged_keys(keep_keys, "keep")
        if discard_keys:
            filters.discard_hashes = load_discard_hashes(discard_keys)
    if bl_words:
        filters.words = WordBlocklist(read_list(bl_words))
    if bl_subreddits:
        filters.subreddits = {entry.lower() for entry in read_list(bl_subreddits)}
    return filters


def main(argv=None) -> int:
    config = parse_config(ConvConfig, build_parser(), argv)
    setup_logging(config.verbose)
    check_paths(output_dirs={"--out": config.out})
    filters = build_filters(config.keep_keys, config.discard_keys, config.ignore_keys,
                            config.bl_words, config.bl_subreddits)
    report = convert_month(config.month, config.extract_dir, config.out, config.options(),
                           filters, config.workers)
    conv = report["conv"]
    logger.info("%s conv: %d instances from %d comments (%.1f s)", config.month,
                conv["instances"], conv["comments"], conv["seconds"])
    return 0


if __name__ == "__main__":
    raise SystemExit(run_main(main))
