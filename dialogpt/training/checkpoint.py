"""Checkpoint directories: loadable by Hugging Face, and resumable exactly.

``OUTPUT_DIR/checkpoint-step-N/`` holds

- ``config.json``, ``model.safetensors`` (+ ``generation_config.json``) from ``save_pretrained``,
  and the tokenizer files: ``AutoModelForCausalLM.from_pretrained`` / ``AutoTokenizer`` load it;
- ``training_state.pt``: optimizer, grad scaler, counters, the loader position and the RNG states
  of every rank, the arguments; plain tensors and containers, read with ``weights_only=True``;
- ``trainer_state.json``: a readable summary (step, epoch, loss, world size, precision);
- a LoRA run (``--lora_r``): the weights above are the merged ones, and ``adapter/`` holds the
  adapter in PEFT's format (``dialogpt.training.lora``).

A directory is written under a temporary name and renamed when complete
(``dialogpt.fileio.atomic_dir``), so a crash or a failed write never leaves a half checkpoint
under a real name, and the previous checkpoints are never touched.
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from dialogpt.cli import UserError
from dialogpt.fileio import atomic_dir, write_manifest

PREFIX = "checkpoint-step-"
STATE_FILE = "training_state.pt"
SUMMARY_FILE = "trainer_state.json"
FORMAT_VERSION = 1
_REQUIRED_FILES = ("config.json", "model.safetensors", STATE_FILE, SUMMARY_FILE)
_NAME = re.compile(rf"^{re.escape(PREFIX)}(\d+)$")


def checkpoint_path(output_dir: str | Path, step: int) -> Path:
    return Path(output_dir) / f"{PREFIX}{step}"


def checkpoint_step(path: str | Path) -> int | None:
    """The step in a checkpoint directory's name, or ``None`` if it is not one."""
    match = _NAME.match(Path(path).name)
    return int(match.group(1)) if match else None


def is_complete(path: str | Path) -> bool:
    path = Path(path)
    return path.is_dir() and all((path / name).is_file() for name in _REQUIRED_FILES)


def list_checkpoints(output_dir: str | Path) -> list[Path]:
    """Complete checkpoint directories in ``output_dir``, oldest step first."""
    root = Path(output_dir)
    if not root.is_dir():
        return []
    found = [(checkpoint_step(child), child) for child in root.iterdir()]
    return [path for step, path in sorted((s, p) for s, p in found if s is not None)
            if is_complete(path)]


def latest_checkpoint(output_dir: str | Path) -> Path | None:
    checkpoints = list_checkpoints(output_dir)
    return checkpoints[-1] if checkpoints else None


def damage(path: str | Path) -> str | None:
    """Why the checkpoint ``path`` cannot be used (a file missing, truncated or changed since it
    was written, per its manifest), else ``None``. Checkpoints written before manifests existed
    pass; their loaders still name a damaged file."""
    from dialogpt.fileio import verify_manifest

    try:
        verify_manifest(path, remedy="resume from an earlier checkpoint")
    except UserError as exc:
        return str(exc)
    return None


def newest_finite_checkpoint(directory: str | Path) -> Path | None:
    """The newest intact checkpoint whose weights are all finite and whose recorded losses (last
    training step, last evaluation) are finite: where to resume a diverged run from."""
    import math

    from safetensors import safe_open

    for path in reversed(list_checkpoints(directory)):
        if damage(path) is not None:
            continue
        try:
            summary = json.loads((path / SUMMARY_FILE).read_text(encoding="utf-8"))
            losses = [summary.get(key) for key in ("train_loss", "last_eval_loss")]
            if any(loss is not None and not math.isfinite(loss) for loss in losses):
                continue
            with safe_open(str(path / "model.safetensors"), framework="pt") as weights:
                if all(bool(torch.isfinite(weights.get_tensor(name)).all())
                       for name in weights.keys()):
                    return path
        except Exception:  # an unreadable checkpoint is not a place to resume from
            continue
    return None


def newest_intact_checkpoint(directory: str | Path) -> Path | None:
    """The newest complete checkpoint of ``directory`` that is intact; each newer damaged one is
    skipped with a warning naming what is wrong. ``None`` when there is no checkpoint at all."""
    import logging

    checkpoints = list_checkpoints(directory)
    for path in reversed(checkpoints):
        problem = damage(path)
        if problem is None:
            return path
        logging.getLogger(__name__).warning("--resume: skipping %s: %s", path.name, problem)
    if checkpoints:
        raise UserError(f"every checkpoint in {directory} is damaged (see the warnings above): "
                        "restore one from a backup, or start afresh without --resume")
    return None


def resolve_resume(resume: str | None, continue_from: int, output_dir: str | Path) -> Path | None:
    """The checkpoint to resume from, or ``None`` to start fresh.

    ``auto``: the newest complete and intact checkpoint in ``output_dir`` (newer damaged ones are
    skipped with a warning), if any. A checkpoint directory: itself, if intact. Another
    directory: its newest intact checkpoint. ``continue_from=N`` (the original
    flag): ``output_dir/checkpoint-step-N``.
    """
    if continue_from:
        path = checkpoint_path(output_dir, continue_from)
        if not is_complete(path):
            raise UserError(f"--continue_from {continue_from}: {path} is not a complete "
                            "checkpoint (to start from an original .pkl, use --init_checkpoint)")
        return path
    if not resume:
        return None
    if resume == "auto":
        return newest_intact_checkpoint(output_dir)
    path = Path(resume)
    if is_complete(path):
        problem = damage(path)
        if problem:
            raise UserError(f"--resume {path}: {problem}")
        return path
    if checkpoint_step(path) is not None and path.is_dir():
        raise UserError(f"--resume {path}: incomplete checkpoint (missing one of "
                        f"{', '.join(_REQUIRED_FILES)})")
    newest = newest_intact_checkpoint(path)
    if newest is None:
        raise UserError(f"--resume {path}: no complete {PREFIX}N directory there")
    return newest


def capture_rng_state() -> dict[str, Any]:
    """This process's Python, NumPy, torch (and CUDA) generator states, as plain containers."""
    name, keys, position, has_gauss, cached = np.random.get_state()
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": [name, torch.from_numpy(keys.astype(np.int64)), int(position), int(has_gauss),
                  float(cached)],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state()
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    name, keys, position, has_gauss, cached = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), position, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state(state["cuda"])


def save_checkpoint(path: str | Path, model, tokenizer, training_state: dict[str, Any],
                    summary: dict[str, Any], json_files: dict[str, Any] | None = None,
                    weights: dict[str, torch.Tensor] | None = None,
                    write_extra: Callable[[Path], None] | None = None) -> Path:
    """Write a complete checkpoint directory atomically (replacing one of the same name), with
    ``json_files`` (name -> JSON value) beside the weights. ``weights`` replaces the model's own
    state dict (LoRA: the merged weights); ``write_extra(directory)`` adds files (the adapter)."""
    from transformers.utils import logging as hf_logging

    path = Path(path)
    with atomic_dir(path, overwrite=True) as tmp:
        bars_were_enabled = hf_logging.is_progress_bar_enabled()
        hf_logging.disable_progress_bar()
        try:
            model.save_pretrained(tmp, safe_serialization=True, state_dict=weights)
            if write_extra is not None:
                write_extra(tmp)
        finally:
            if bars_were_enabled:
                hf_logging.enable_progress_bar()
        if tokenizer is not None:
            tokenizer.save_pretrained(tmp)
        torch.save({"format_version": FORMAT_VERSION, **training_state}, tmp / STATE_FILE)
        for name, value in {SUMMARY_FILE: summary, **(json_files or {})}.items():
            (tmp / name).write_text(json.dumps(value, indent=2, sort_keys=True) + "\n",
                                    encoding="utf-8")
        write_manifest(tmp)  # every file's size and sha256, verified when loaded
        # atomic_dir fsyncs every file and gives safetensors' private files the usual mode
    return path


def load_training_state(path: str | Path) -> dict[str, Any]:
    """Read ``training_state.pt`` (tensors and plain containers only)."""
    file = Path(path) / STATE_FILE
    try:
        state = torch.load(file, map_location="cpu", weights_only=True)
    except FileNotFoundError as exc:
        raise UserError(f"{file} is missing: {path} is not a complete checkpoint") from exc
    except Exception as exc:  # unpickling errors come in many types
        raise UserError(f"cannot read {file} ({type(exc).__name__}: {exc}); resume from an "
                        "earlier checkpoint") from exc
    if not isinstance(state, dict) or state.get("format_version") != FORMAT_VERSION:
        raise UserError(f"{file} is not a training state of format {FORMAT_VERSION}")
    return state
