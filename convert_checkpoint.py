#!/usr/bin/env python
"""Convert an original DialoGPT .pkl checkpoint into a Hugging Face directory (see --help)."""
from dialogpt.cli import run_main
from dialogpt.convert import main

if __name__ == "__main__":
    raise SystemExit(run_main(main))
