"""Chat with a DialoGPT model in the terminal; see ``python interact.py --help``."""

from dialogpt.cli import run_main
from dialogpt.decoding.interact import main

if __name__ == "__main__":
    raise SystemExit(run_main(main))
