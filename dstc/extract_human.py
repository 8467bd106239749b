#!/usr/bin/env python
"""Write the human responses of the DSTC-7 references as a hypothesis file (see --help)."""
from dialogpt.cli import run_main
from dialogpt.evaluation.dstc_data import extract_human_main as main

if __name__ == "__main__":
    raise SystemExit(run_main(main))
