"""Decode one response per input line for batch_eval.py; see ``python generate.py --help``."""

from dialogpt.cli import run_main
from dialogpt.decoding.generate_cli import main

if __name__ == "__main__":
    raise SystemExit(run_main(main))
