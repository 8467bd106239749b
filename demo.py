#!/usr/bin/env python
"""Run the whole DialoGPT pipeline; with no arguments, offline on dummy data (see --help)."""
from dialogpt.cli import run_main
from dialogpt.demo.pipeline import main

if __name__ == "__main__":
    raise SystemExit(run_main(main))
