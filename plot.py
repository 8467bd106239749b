#!/usr/bin/env python
"""Loss and perplexity curves of training runs, several overlaid (see --help)."""
from dialogpt.cli import run_main
from dialogpt.plot import main

if __name__ == "__main__":
    raise SystemExit(run_main(main))
