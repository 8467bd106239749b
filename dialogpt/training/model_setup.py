"""The model a run trains: where its weights come from, its config, and building it.

A fresh run loads ``--model_name_or_path`` (plus ``--init_checkpoint``); a resumed run loads the
checkpoint, except under LoRA, where it rebuilds the base model the run started from and loads the
checkpoint's adapter (``lora.adapt``). Either way the run keeps recording the model it *started*
from (``model_sources``), so every checkpoint of a run names the same base.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from dialogpt.cli import UserError
from dialogpt.training import lora
from dialogpt.training.checkpoint import SUMMARY_FILE

if TYPE_CHECKING:
    from dialogpt.training.args import TrainConfig

logger = logging.getLogger(__name__)


def model_config_of(source: str | Path):
    """The config of the model at ``source``, read without building the model."""
    from transformers import AutoConfig

    from dialogpt.modeling import has_weights, read_model_config

    source = Path(source)
    if has_weights(source):
        return AutoConfig.from_pretrained(str(source))
    if source.is_file() or (source.is_dir() and (source / "config.json").exists()):
        return read_model_config(source)
    from dialogpt.hub import check_hub_id, offline_error

    offline = check_hub_id(str(source), "model")  # no network: fail at once, say what to do
    try:
        return AutoConfig.from_pretrained(str(source))
    except Exception as exc:  # hub and network errors come in many types
        if offline:
            raise offline_error(str(source), "model", offline) from None
        raise UserError(f"could not load the model config of {str(source)!r}: not a local "
                        f"directory, and the Hugging Face Hub failed ({type(exc).__name__}). "
                        "Pass a local directory or a shipped config such as configs/117M or "
                        "configs/t5-tiny.") from exc


def model_width(model_config) -> int:
    """The hidden size the noam schedules scale by (GPT-2's n_embd, T5/BART's d_model)."""
    return getattr(model_config, "n_embd", None) or model_config.d_model


def model_sources(config: TrainConfig, resume_dir: Path | None,
                  warn: bool) -> tuple[str, str | None]:
    """(model, init checkpoint) the run started from: the flags, or what a resumed checkpoint
    recorded. ``warn``: say when --model_name_or_path / --init_checkpoint name something else
    than a resumed run's start (the checkpoint's weights are what is loaded and recorded)."""
    if resume_dir is None:
        return config.model_name_or_path, config.init_checkpoint
    try:
        summary = json.loads((resume_dir / SUMMARY_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        summary = {}
    source = summary.get("model_name_or_path") or str(resume_dir)
    ignored = []
    if config.model_name_or_path != source:
        ignored.append(f"--model_name_or_path {config.model_name_or_path}")
    if config.init_checkpoint:
        ignored.append(f"--init_checkpoint {config.init_checkpoint}")
    if ignored and warn:
        logger.warning("resuming: %s not used; the weights come from %s (a run started from "
                       "%s), and that is what checkpoints record", " and ".join(ignored),
                       resume_dir, source)
    return source, summary.get("init_checkpoint")


def build_model(config: TrainConfig, resume_dir: Path | None, sources: tuple[str, str | None],
                device):
    """(the model on ``device``, in train mode; its LoRA ``PeftModel`` or None).

    Loaded from the checkpoint when resuming (a LoRA run: from its base ``sources`` plus the
    checkpoint's adapter), else from --model_name_or_path / --init_checkpoint; then
    ``--grad_checkpointing`` and ``--compile`` apply."""
    from dialogpt.modeling import load_model

    if resume_dir is None:
        model = load_model(config.model_name_or_path, config.init_checkpoint)
        if config.lora is not None:
            lora.warn_if_untrained(config.model_name_or_path, config.init_checkpoint)
    elif config.lora is None:
        model = load_model(resume_dir)
    else:  # a LoRA run resumes from its base model plus the checkpoint's adapter
        model = load_model(*sources)
    adapted = lora.adapt(model, config.lora, resume_dir)
    model = model.to(device)
    model.train()
    if config.grad_checkpointing:
        enable_activation_checkpointing(model)
    if config.compile:
        model.base_model.compile()
    return model, adapted


def enable_activation_checkpointing(model) -> None:
    """Recompute each block's activations in backward (``--grad_checkpointing``).

    transformers 5 renamed ``gradient_checkpointing_enable``; both spellings are supported.
    """
    kwargs = {"use_reentrant": False}
    if hasattr(model, "activation_checkpointing_enable"):
        model.activation_checkpointing_enable(activation_checkpointing_kwargs=kwargs)
    else:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)
