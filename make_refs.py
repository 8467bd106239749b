#!/usr/bin/env python
"""A conversation TSV -> a references file for generate.py and batch_eval.py (see --help)."""
from dialogpt.cli import run_main
from dialogpt.evaluation.make_refs import main

if __name__ == "__main__":
    raise SystemExit(run_main(main))
