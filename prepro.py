"""Build a token DB from a TSV corpus (see dialogpt.data.prepro)."""

from dialogpt.cli import run_main
from dialogpt.data.prepro import main

if __name__ == "__main__":
    raise SystemExit(run_main(main))
