"""Reddit extraction speed and memory on one synthetic month.

``python benchmarks/run.py extract [--submissions 35000] [--original PATH/reddit.py]``

Writes a synthetic month (about 6 comments per submission, so the default is ~210k comments)
with key files, then times, each in its own process:

- the read path: ``iter_lines`` + ``orjson`` over the RC dump (lines/s),
- our extract step and conversation step (conv-stage comments/s = kept comments / seconds,
  wall and per CPU-second; peak RSS of each process),
- with ``--original``, the original ``reddit.py`` (needs ``flashtext`` importable) on the same
  dump and keys, which also checks that both conversation outputs are equal.

Prints one JSON line.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MONTH = "2011-06"


def _run(command: list[str], cwd: Path | None = None) -> dict:
    """Run a command; wall seconds, CPU seconds and peak RSS (MiB) of that process alone."""
    start = time.perf_counter()
    with open(os.devnull, "w") as sink, tempfile.TemporaryFile("w+") as log:
        process = subprocess.Popen(command, cwd=cwd, stdout=sink, stderr=log)
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        log.seek(0)
        stderr = log.read()
    wall = time.perf_counter() - start
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{stderr[-2000:]}")
    return {"wall_s": round(wall, 3), "cpu_s": round(usage.ru_utime + usage.ru_stime, 3),
            "peak_rss_mib": round(usage.ru_maxrss / 1024, 1)}


_PREPARE = """
import json, sys, time
import orjson
from pathlib import Path
from dialogpt.extraction.readers import iter_lines
from dialogpt.extraction.synthetic import write_synthetic_keys, write_synthetic_month
root, month, submissions, per_submission, seed = sys.argv[1:]
root = Path(root)
made = write_synthetic_month(root / "dumps", month, int(submissions), seed=int(seed),
                             comments_per_submission=float(per_submission))
write_synthetic_keys(root / "keys", month, root / "dumps", seed=int(seed))
start, count = time.perf_counter(), 0
for line in iter_lines(made.rc_path):
    try:
        orjson.loads(line)
    except orjson.JSONDecodeError:
        pass  # a few malformed lines on purpose
    count += 1
seconds = time.perf_counter() - start
print(json.dumps({"comments_in_dump": made.n_comments, "read_path": {
    "lines": count, "seconds": round(seconds, 3), "lines_per_s": round(count / seconds)}}))
"""


def _prepare(root: Path, submissions: int, per_submission: float, seed: int) -> dict:
    """Write the month and time the read path, in a child process (keeps this one small, so
    the peak RSS of later children is theirs alone)."""
    result = subprocess.run([sys.executable, "-c", _PREPARE, str(root), MONTH, str(submissions),
                             str(per_submission), str(seed)],
                            capture_output=True, text=True, check=True)
    return json.loads(result.stdout)


def _original(script: Path, root: Path, ours_out: Path) -> dict:
    """Time the original extractor (outside this repository) and compare its output."""
    work = root / "original"
    common = [sys.executable, str(script), MONTH, "--reddit_input", str(root / "dumps"),
              "--reddit_output", str(work)]
    extract = _run(common + [f"--keep_keys={root}/keys/{MONTH}.gz", "--task=extract"],
                   cwd=script.parent)
    for path in (work / "extract" / MONTH).glob("r*_sub*.tsv"):
        subprocess.run(["gzip", "-f", str(path)], check=True)
    conv = _run(common + ["--task=conv", f"--keep_keys={root}/keys/{MONTH}.gz",
                          "--discard_tgt_keys", f"{root}/keys/{MONTH}-o.gz", "--parallel=True",
                          "--clean", "True", "--min_score", "1", "--min_depth", "2",
                          "--max_depth", "5", "--use_title", "0", "--leaves_only", "1"],
                cwd=script.parent)
    theirs = (work / "conv" / f"{MONTH}.tsv").read_text(encoding="utf-8")
    with gzip.open(ours_out, "rt", encoding="utf-8") as handle:
        ours = handle.read()
    return {"extract": extract, "conv": conv, "equal_output": ours == theirs,
            "lines": theirs.count("\n")}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--submissions", type=int, default=35_000, help="submissions in the month")
    parser.add_argument("--seed", type=int, default=0, help="generator seed")
    parser.add_argument("--comments_per_submission", type=float, default=6.0,
                        help="mean thread size of the generator")
    parser.add_argument("--workers", type=int, default=1, help="conv --workers")
    parser.add_argument("--original", type=Path, help="path of the original src/reddit.py")
    parser.add_argument("--keep", type=Path, help="work folder to keep (default: a temp folder)")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        root = args.keep or Path(tmp)
        prepared = _prepare(root, args.submissions, args.comments_per_submission, args.seed)
        stage = [sys.executable, "-m"]
        extract = _run(stage + ["dialogpt.extraction.extract", MONTH, "--dumps", str(root / "dumps"),
                                "--out", str(root / "extract"),
                                "--keep_keys", str(root / "keys" / f"{MONTH}.gz")])
        conv = _run(stage + ["dialogpt.extraction.conv", MONTH, "--extract_dir",
                             str(root / "extract"), "--out", str(root / "conv"),
                             "--keep_keys", str(root / "keys" / f"{MONTH}.gz"),
                             "--discard_keys", str(root / "keys" / f"{MONTH}-o.gz"),
                             "--workers", str(args.workers)])
        report = json.loads((root / "conv" / f"{MONTH}.report.json").read_text())
        comments = report["conv"]["comments"]
        conv["comments_per_s"] = round(comments / conv["wall_s"])
        conv["comments_per_cpu_s"] = round(comments / conv["cpu_s"])
        result = {"benchmark": "extract", **prepared, "conv_comments": comments,
                  "instances": report["conv"]["instances"], "extract": extract, "conv": conv}
        if args.original:
            original = _original(args.original.resolve(), root,
                                 root / "conv" / f"{MONTH}.tsv.gz")
            original["conv"]["comments_per_s"] = round(comments / original["conv"]["wall_s"])
            original["conv"]["comments_per_cpu_s"] = round(comments / original["conv"]["cpu_s"])
            result["original"] = original
            result["conv_speedup_wall"] = round(original["conv"]["wall_s"] / conv["wall_s"], 2)
            result["conv_speedup_cpu"] = round(original["conv"]["cpu_s"] / conv["cpu_s"], 2)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
