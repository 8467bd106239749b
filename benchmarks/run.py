#!/usr/bin/env python
"""Run one benchmark (or all): ``python benchmarks/run.py NAME [args...]``.

Each ``benchmarks/bench_NAME.py`` defines ``main(argv=None)`` that prints one JSON line of
figures. ``python benchmarks/run.py --list`` shows the names. Record results, with machine, date
and command, in ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def available() -> list[str]:
    return sorted(path.stem[len("bench_"):] for path in HERE.glob("bench_*.py"))


def run(name: str, argv: list[str]) -> int:
    path = HERE / f"bench_{name}.py"
    if not path.exists():
        print(f"no benchmark {name!r}; available: {', '.join(available())}", file=sys.stderr)
        return 2
    sys.path.insert(0, str(HERE.parent))
    spec = importlib.util.spec_from_file_location(f"bench_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main(argv) or 0


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in {"-h", "--help"}:
        print(__doc__.strip())
        return 0
    if argv[0] == "--list":
        print("\n".join(available()))
        return 0
    if argv[0] == "all":
        return max((run(name, []) for name in available()), default=0)
    return run(argv[0], argv[1:])


if __name__ == "__main__":
    raise SystemExit(main())
