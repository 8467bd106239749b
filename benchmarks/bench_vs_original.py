"""``python benchmarks/run.py vs_original --original DIR ...``: see ``benchmarks/vs_original.py``.

Needs a checkout of the original repository, so without ``--original`` it prints a JSON line
saying it was skipped (``run.py all`` stays runnable).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not any(arg == "--original" or arg.startswith("--original=") for arg in argv) and \
            not {"-h", "--help"} & set(argv):
        print(json.dumps({"benchmark": "vs_original",
                          "skipped": "needs --original DIR (a checkout of microsoft/DialoGPT)"}))
        return 0
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from vs_original import main as run

    return run(argv)


if __name__ == "__main__":
    raise SystemExit(main())
