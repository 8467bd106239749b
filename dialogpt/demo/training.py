"""The demo's training runs, shared by every task (dialog, ``--mmi``, grounded, finetune):
``LSP_train.py`` in-process, the dialog model's flags, and the checkpoint a run left."""

from __future__ import annotations

import sys
from pathlib import Path

from dialogpt.cli import UserError
from dialogpt.demo import models


def model_source(demo) -> str:
    """``--model_name_or_path`` of the demo's training (``demo.models.model_source``)."""
    return models.model_source(demo.args.model)


def run_training(flags: list[str], train_dir: Path) -> None:
    """``LSP_train.py`` in-process. Stopped by Ctrl-C or SIGTERM (exit 130/143), it has saved a
    checkpoint: the demo stops the same way and says that a re-run continues from there."""
    from dialogpt.interrupts import Terminated
    from dialogpt.training.train import main as train_main

    rc = train_main(flags)
    if rc in (130, 143):
        print(f"training stopped at a checkpoint in {train_dir}; run the same demo command again "
              "to continue from it", file=sys.stderr)
        raise Terminated() if rc == 143 else KeyboardInterrupt()
    if rc:
        raise UserError(f"training failed (exit {rc}); see {train_dir}")


def train_model(demo, db: str, train_dir: Path) -> dict:
    """The dialog demo's training run on ``db`` into ``train_dir`` (the backward model of
    ``--mmi`` trains the same way on the reversed DB)."""
    flags = ["--model_name_or_path", model_source(demo),
             "--train_input_file", db,
             "--eval_input_file", str(demo.valid_tsv),
             "--output_dir", str(train_dir),
             "--num_optim_steps", str(demo.args.num_optim_steps),
             "--valid_step", str(demo.args.valid_step),
             "--train_batch_size", str(demo.args.train_batch_size),
             "--gradient_accumulation_steps", "1",
             "--eval_batch_size", "32",
             "--max_seq_length", str(demo.args.max_seq_len),
             "--learning_rate", "1e-5", "--lr_schedule", "noam", "--warmup_steps", "50",
             "--eval_at_start", "true", "--fp16", "false", "--pbar", "false",
             "--resume", "auto"]
    run_training(flags + demo.train_flags, train_dir)
    return {"checkpoint": str(latest_checkpoint(train_dir)), "train_dir": str(train_dir)}


def latest_checkpoint(train_dir: Path) -> Path:
    checkpoints = sorted(train_dir.glob("checkpoint-step-*"),
                         key=lambda path: int(path.name.rsplit("-", 1)[1]))
    if not checkpoints:
        raise UserError(f"training wrote no checkpoint in {train_dir}")
    return checkpoints[-1]
