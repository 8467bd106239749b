"""Wall time of ``python ENTRY.py --help`` for every entry point (target < 2 s each).

    python benchmarks/run.py startup
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ENTRY_POINTS = ["LSP_train.py", "prepro.py", "demo.py", "demo_utils.py", "batch_eval.py",
                "interact.py", "generate.py", "convert_checkpoint.py"]


def main(argv=None) -> int:
    figures = {}
    for script in ENTRY_POINTS:
        best = float("inf")
        for _ in range(3):
            start = time.perf_counter()
            subprocess.run([sys.executable, script, "--help"], cwd=ROOT, check=True,
                           stdout=subprocess.DEVNULL)
            best = min(best, time.perf_counter() - start)
        figures[script] = round(best, 3)
    print(json.dumps({"benchmark": "startup", "help_seconds": figures,
                      "max_seconds": max(figures.values())}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
