"""Extraction months/s and comments/s: the Makefile (``make -j N``) against ``EXECUTOR=ray``.

``python benchmarks/run.py cluster [--months 4] [--submissions 4000] [--jobs 2]``

Writes ``--months`` synthetic months (about 6 comments per submission) with key files, then
runs the whole train side (extract, conv, merge) twice on the same dumps, each in its own
process: ``make -j JOBS train`` and ``make train EXECUTOR=ray`` (a local Ray instance on every core,
its start-up included). Both ``train.tsv`` files must be equal. Prints one JSON line with
wall seconds, months/s and comments/s of each path, the Ray path's start-up share, and the
per-month cost (CPU seconds per million comments) that RESULTS.md uses for its projection.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _make(root: Path, months: list[str], jobs: int, executor: str) -> float:
    settings = {"PYTHON": sys.executable, "S": str(root / "dumps"), "K": str(root / "keys"),
                "T": str(root / executor / "work"), "DATA": str(root / executor / "data"),
                "TRAIN_MONTHS": " ".join(months), "EXECUTOR": executor}
    start = time.perf_counter()
    subprocess.run(["make", "-j", str(jobs), "train",
                    *(f"{key}={value}" for key, value in settings.items())],
                   cwd=REPO / "reddit_extractor", check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def _comments(root: Path, months: list[str]) -> int:
    work = root / "make" / "work" / "train" / "conv"
    return sum(json.loads((work / f"{month}.report.json").read_text())["extract"]["comments"]
               ["lines"] for month in months)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="benchmarks/run.py cluster", description=__doc__)
    parser.add_argument("--months", type=int, default=4, help="synthetic months")
    parser.add_argument("--submissions", type=int, default=4000, help="submissions per month")
    parser.add_argument("--jobs", type=int, default=2, help="make -j / Ray CPUs")
    args = parser.parse_args(argv)
    from dialogpt.extraction.synthetic import write_synthetic_keys, write_synthetic_month

    months = [f"2011-{index + 1:02d}" for index in range(args.months)]
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        for seed, month in enumerate(months):
            write_synthetic_month(root / "dumps", month, args.submissions, seed=seed)
            write_synthetic_keys(root / "keys", month, root / "dumps", seed=seed)
        make_s = _make(root, months, args.jobs, "make")
        ray_s = _make(root, months, args.jobs, "ray")
        same = ((root / "make" / "data" / "train.tsv").read_bytes()
                == (root / "ray" / "data" / "train.tsv").read_bytes())
        comments = _comments(root, months)
        run = json.loads((root / "ray" / "work" / "train" / "cluster_run.json").read_text())
    task_s = sum(row["seconds"] for row in run["placements"])
    print(json.dumps({
        "benchmark": "cluster", "months": args.months, "comments": comments, "jobs": args.jobs,
        "make_wall_s": round(make_s, 2), "ray_wall_s": round(ray_s, 2),
        "make_months_per_s": round(args.months / make_s, 3),
        "ray_months_per_s": round(args.months / ray_s, 3),
        "make_comments_per_s": round(comments / make_s), "ray_comments_per_s":
            round(comments / ray_s), "ray_task_s": round(task_s, 2),
        "task_s_per_million_comments": round(task_s / comments * 1e6, 1),
        "ray_overhead_s": round(ray_s - task_s / args.jobs, 2), "outputs_equal": same}))
    return 0
