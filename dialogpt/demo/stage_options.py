"""What each stage of the dialog demo depends on, what a redo clears, and the checks that run
before anything is deleted or started.

- :func:`stage_options`: per stage, the flags its output depends on (``--jobs`` is not one).
  Recorded in the stage markers by :mod:`dialogpt.demo.stages`: ``python demo.py --data small``
  after the default demo redoes everything from the dumps on; ``--model small`` redoes training
  and what follows.
- :func:`clear_for_redo`: a redone ``extract`` starts from an empty work folder (``make`` would
  otherwise keep months built from other dumps), a redone ``train`` from an empty training
  folder (``--resume auto`` would otherwise continue, or refuse, the old run).
- :func:`validate`: every check that needs no work, run before ``--force`` deletes anything:
  dumps for ``--data small|full``, the model (a local path that exists, a shipped size, or a Hub
  id that is reachable or cached), and the flags passed on to ``LSP_train.py``.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from dialogpt.cli import UserError


def stage_options(demo) -> dict[str, dict[str, Any]]:
    from dialogpt.demo.dummy_data import DUMMY_MONTHS
    from dialogpt.demo.models import model_source

    config = demo.config
    dumps = None if config.data == "dummy" else str(Path(config.dumps).resolve())
    data = {"data": config.data, "dumps": dumps, "data_dir": str(demo.data.resolve()),
            "months": list(DUMMY_MONTHS) if config.data == "dummy" else config.data}
    return {
        "dumps": data,
        "extract": {**data, "valid_fraction": config.valid_fraction},
        "prepro": {"max_seq_len": config.max_seq_len},
        "train": {"model": model_source(config.model), "num_optim_steps": config.num_optim_steps,
                  "train_batch_size": config.train_batch_size, "valid_step": config.valid_step,
                  "max_seq_len": config.max_seq_len, "train_flags": list(demo.train_flags)},
        "generate": {"num_heldout": config.num_heldout},
        "evaluate": {},
        "report": {},
    }


def clear_for_redo(demo, name: str) -> None:
    """Remove what a finished stage left that its redo must not reuse."""
    if name == "extract":
        shutil.rmtree(demo.data / "work", ignore_errors=True)
        for tsv in (demo.train_tsv, demo.valid_tsv):
            tsv.unlink(missing_ok=True)
    elif name == "train":
        shutil.rmtree(demo.train_dir, ignore_errors=True)
    elif name == "train_reverse":
        shutil.rmtree(demo.out / "train-reverse", ignore_errors=True)


def validate(demo) -> None:
    """Raise ``UserError`` for anything that would make a stage fail before it does real work."""
    from dialogpt.demo.models import HUB_MODELS, model_source
    from dialogpt.hub import require_hub_id

    if demo.config.data != "dummy":
        dumps = demo.dumps  # raises without --dumps
        if not dumps.is_dir():
            raise UserError(f"--dumps {dumps} does not exist (a folder of RS_/RC_ monthly dumps)")
    source = model_source(demo.config.model)
    if demo.config.model in HUB_MODELS or not Path(source).exists():
        require_hub_id(source, "model")
    check_train_flags(demo.train_flags)


def check_train_flags(flags: list[str]) -> None:
    """The flags demo.py passes on to LSP_train.py must be LSP_train.py's (checked before work)."""
    from dialogpt.demo.training import train_overrides

    train_overrides(flags)
