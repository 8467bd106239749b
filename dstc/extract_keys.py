#!/usr/bin/env python
"""Write the keys (first TAB column) of a references or submission file (see --help)."""
from dialogpt.cli import run_main
from dialogpt.evaluation.dstc_data import extract_keys_main as main

if __name__ == "__main__":
    raise SystemExit(run_main(main))
