"""Serve a DialoGPT or GODEL model over HTTP (OpenAI-compatible API, chat page); see ``--help``."""

from dialogpt.cli import run_main
from dialogpt.serving.cli import main

if __name__ == "__main__":
    raise SystemExit(run_main(main))
