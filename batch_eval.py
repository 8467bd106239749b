#!/usr/bin/env python
"""DSTC-7 metrics (NIST, BLEU, METEOR, entropy, distinct) without Perl (see --help)."""
from dialogpt.cli import run_main
from dialogpt.evaluation.batch_eval import main

if __name__ == "__main__":
    raise SystemExit(run_main(main))
