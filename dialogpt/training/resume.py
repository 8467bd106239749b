"""What a checkpoint's ``training_state.pt`` holds, and putting it back (``--resume``).

The trainer's counters (``Progress``) travel with the optimizer and grad-scaler states, every
rank's loader position and random-generator states, and the flags. Restoring them on the same
number of processes continues the run bit for bit; on another number of processes the data
restarts at the beginning of the epoch and the random streams are reseeded (with a warning).
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from dialogpt.cli import SEED_LIMIT, UserError
from dialogpt.training import checkpoint as ckpt

logger = logging.getLogger(__name__)


@dataclass
class EpochTotals:
    """Running sums behind the epoch columns of ``train_log.txt``."""

    finite_steps: int = 0
    loss: float = 0.0
    ppl: float = 0.0
    n_token_real: int = 0
    n_token_total: int = 0
    seconds: float = 0.0


@dataclass
class Progress:
    """Counters saved in checkpoints; ``global_step`` counts optimizer steps done."""

    global_step: int = 0
    micro_step: int = 0
    epoch: int = 0
    nonfinite_streak: int = 0
    train_seconds: float = 0.0
    epoch_totals: EpochTotals = field(default_factory=EpochTotals)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "Progress":
        return cls(**{**values, "epoch_totals": EpochTotals(**values["epoch_totals"])})


def training_state(progress: Progress, optimizer, scaler, rng_states: list, loader_states: list,
                   flags: dict[str, Any]) -> dict[str, Any]:
    """The resumable state of a run (every rank's RNG and loader states, gathered by the caller)."""
    return {"progress": asdict(progress), "optimizer": optimizer.state_dict(),
            "scaler": scaler.state_dict() if scaler.is_enabled() else None,
            "rng": rng_states, "loader": loader_states, "world_size": len(rng_states),
            "args": flags}


def restore(state: dict[str, Any], source: Path, *, optimizer, scaler, loader, rank: int,
            world_size: int, seed: int) -> Progress:
    """Load ``state`` (read from checkpoint ``source``) into the run's parts; return its counters."""
    optimizer.load_state_dict(state["optimizer"])
    if scaler.is_enabled() and state.get("scaler"):
        scaler.load_state_dict(state["scaler"])
    progress = Progress.from_dict(state["progress"])
    if state["world_size"] == world_size:
        try:
            loader.load_state_dict(state["loader"][rank])
        except ValueError as exc:
            raise UserError(f"cannot resume from {source}: {exc}") from exc
        ckpt.restore_rng_state(state["rng"][rank])
    else:
        logger.warning("the checkpoint was written by %d processes, this run has %d: data "
                       "restarts at the beginning of epoch %d and random streams are reseeded, "
                       "so the run is not an exact continuation",
                       state["world_size"], world_size, progress.epoch + 1)
        loader.set_epoch(progress.epoch)
        torch.manual_seed((seed + rank + progress.global_step) % SEED_LIMIT)
    return progress


def find_start(resume: str | None, continue_from: int, output_dir: Path) -> Path | None:
    """The checkpoint to resume from (``None``: a fresh run), refusing to mix runs."""
    resume_dir = ckpt.resolve_resume(resume, continue_from, output_dir)
    if resume_dir is None and ckpt.list_checkpoints(output_dir):
        raise UserError(f"--output_dir {output_dir} already holds checkpoints; pass --resume auto "
                        "to continue that run, or choose a new --output_dir")
    return resume_dir
