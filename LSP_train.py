"""Train a DialoGPT (GPT-2) model: ``python LSP_train.py --help``; also under torchrun."""

from dialogpt.cli import run_main
from dialogpt.training.train import main

if __name__ == "__main__":
    raise SystemExit(run_main(main))
