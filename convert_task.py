"""Convert a downstream dataset or one's own chat data to GODEL records (see dialogpt.data.tasks.cli)."""

from dialogpt.cli import run_main
from dialogpt.data.tasks.cli import main

if __name__ == "__main__":
    raise SystemExit(run_main(main))
