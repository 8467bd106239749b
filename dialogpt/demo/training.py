"""The demo's training runs, shared by every task (dialog, ``--mmi``, grounded, finetune):
a ``TrainConfig`` from a stage's settings and the flags ``demo.py`` does not know, the run
in-process, the dialog model's settings, and the checkpoint a run left."""

from __future__ import annotations

import argparse
import sys
from dataclasses import fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from dialogpt.cli import UserError
from dialogpt.demo import models

if TYPE_CHECKING:
    from dialogpt.training.args import TrainConfig


def model_source(demo) -> str:
    """``--model_name_or_path`` of the demo's training (``demo.models.model_source``)."""
    return models.model_source(demo.config.model)


_UNSET = object()


def train_overrides(flags: Sequence[str]) -> dict[str, Any]:
    """The ``TrainConfig`` fields that ``flags`` (``demo.py``'s unknown flags, in
    ``LSP_train.py``'s syntax) set; ``UserError`` for a flag that ``LSP_train.py`` lacks too."""
    from dialogpt.training.args import TrainConfig, build_parser

    # argparse fills in defaults only for names the namespace lacks: what stays _UNSET was not given
    given = argparse.Namespace(**{field.name: _UNSET for field in fields(TrainConfig)})
    _, unknown = build_parser().parse_known_args(list(flags), namespace=given)
    if unknown:
        raise UserError(f"flags neither demo.py nor LSP_train.py knows: {' '.join(unknown)} "
                        "(see python demo.py --help and python LSP_train.py --help)")
    return {name: value for name, value in vars(given).items() if value is not _UNSET}


def train_config(settings: Mapping[str, Any], flags: Sequence[str] = ()) -> TrainConfig:
    """A validated ``TrainConfig`` of a stage's ``settings`` (field values) with ``flags`` (the
    user's extra flags) overriding them, as ``LSP_train.py SETTINGS FLAGS`` would parse: a
    ``--config FILE.json`` among the flags supplies defaults beneath both."""
    from dialogpt.config import file_defaults
    from dialogpt.training.args import TrainConfig

    overrides = train_overrides(flags)
    path = overrides.get("config") or settings.get("config")
    defaults = file_defaults(TrainConfig, path) if path else {}
    config = TrainConfig(**{**defaults, **settings, **overrides})
    config.validate()
    return config


def train(config: TrainConfig) -> None:
    """``LSP_train.py``'s run in-process (``dialogpt.training.train.train``). Stopped by Ctrl-C
    or SIGTERM (exit 130/143), it has saved a checkpoint: the demo stops the same way and says
    that a re-run continues from there."""
    from dialogpt.interrupts import Terminated
    from dialogpt.training.train import train as train_run

    rc = train_run(config)
    if rc in (130, 143):
        print(f"training stopped at a checkpoint in {config.output_dir}; run the same demo "
              "command again to continue from it", file=sys.stderr)
        raise Terminated() if rc == 143 else KeyboardInterrupt()
    if rc:
        raise UserError(f"training failed (exit {rc}); see {config.output_dir}")


def dialog_settings(demo, db: str, train_dir: Path) -> dict[str, Any]:
    """The dialog demo's ``TrainConfig`` fields for a run on ``db`` into ``train_dir``."""
    config = demo.config
    return {"model_name_or_path": model_source(demo), "train_input_file": db,
            "eval_input_file": str(demo.valid_tsv), "output_dir": str(train_dir),
            "num_optim_steps": config.num_optim_steps, "valid_step": config.valid_step,
            "train_batch_size": config.train_batch_size, "gradient_accumulation_steps": 1,
            "eval_batch_size": 32, "max_seq_length": config.max_seq_len,
            "learning_rate": 1e-5, "lr_schedule": "noam", "warmup_steps": 50,
            "eval_at_start": True, "fp16": False, "pbar": False, "resume": "auto"}


def train_model(demo, db: str, train_dir: Path) -> dict:
    """The dialog demo's training run on ``db`` into ``train_dir`` (the backward model of
    ``--mmi`` trains the same way on the reversed DB)."""
    train(train_config(dialog_settings(demo, db, train_dir), demo.train_flags))
    return {"checkpoint": str(latest_checkpoint(train_dir)), "train_dir": str(train_dir)}


def latest_checkpoint(train_dir: Path) -> Path:
    checkpoints = sorted(train_dir.glob("checkpoint-step-*"),
                         key=lambda path: int(path.name.rsplit("-", 1)[1]))
    if not checkpoints:
        raise UserError(f"training wrote no checkpoint in {train_dir}")
    return checkpoints[-1]
