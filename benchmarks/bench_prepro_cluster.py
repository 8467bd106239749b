"""prepro wall time: the local path (``--workers N``) against ``--executor ray`` on one machine.

``python benchmarks/run.py prepro_cluster [--lines 50000] [--workers 2] [--ranges_per_cpu 4]``

Writes an extractor-shaped corpus (``corpora.write_tsv``, English vocabulary), then builds its
DB twice, each in a fresh ``prepro.py`` process: locally with ``--workers N``, and with
``--executor ray`` on a local Ray instance on every core (its start-up included), the corpus cut
into ``N * ranges_per_cpu`` ranges. Both DBs must be byte-identical (every shard and the manifest).
Prints one JSON line: wall seconds and lines/s of each path, the Ray path's build seconds
(``summary.json``) split into connecting (Ray's start-up), counting and encoding, and writing
the shards (``cluster_run.json``), its summed task seconds, and whether the DBs are equal.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _prepro(corpus: Path, output: Path, *flags: str, env: dict | None = None) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, str(REPO / "prepro.py"), "--corpus", str(corpus), "--output",
                    str(output), *flags], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, env=env)
    return time.perf_counter() - start


def _equal(one: Path, other: Path) -> bool:
    names = sorted(path.name for path in one.iterdir() if path.name != "summary.json")
    return all((one / name).read_bytes() == (other / name).read_bytes() for name in names)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="benchmarks/run.py prepro_cluster",
                                     description=__doc__)
    parser.add_argument("--lines", type=int, default=50_000, help="corpus lines")
    parser.add_argument("--workers", type=int, default=2, help="local workers (and ranges: N * --ranges_per_cpu)")
    parser.add_argument("--ranges_per_cpu", type=int, default=4, help="Ray encode tasks per CPU")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from corpora import write_tsv

    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        corpus = write_tsv(root / "train.tsv", args.lines, seed=0)
        size = corpus.stat().st_size
        local_s = _prepro(corpus, root / "local.db", "--workers", str(args.workers))
        env = {key: value for key, value in os.environ.items() if key != "RAY_ADDRESS"}
        ray_s = _prepro(corpus, root / "ray.db", "--executor", "ray", "--range_bytes",
                        str(-(-size // (args.workers * args.ranges_per_cpu))), env=env)
        equal = _equal(root / "local.db", root / "ray.db")
        build_s = json.loads((root / "ray.db" / "summary.json").read_text())["seconds"]
        run = json.loads((root / "ray.db" / "cluster_run.json").read_text())
    print(json.dumps({
        "benchmark": "prepro_cluster", "lines": args.lines, "corpus_mb": round(size / 1e6, 1),
        "workers": args.workers, "ranges": len(run["ranges"]),
        "local_wall_s": round(local_s, 2), "ray_wall_s": round(ray_s, 2),
        "local_lines_per_s": round(args.lines / local_s),
        "ray_lines_per_s": round(args.lines / ray_s),
        "ray_build_s": build_s, **{f"ray_{key}": run[key] for key in
                                   ("connect_s", "count_and_encode_s", "shards_s")},
        "ray_task_s": round(sum(r["seconds"] for r in run["ranges"]), 2),
        "ray_over_local": round(ray_s / local_s, 2), "dbs_equal": equal}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
