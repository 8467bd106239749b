"""LoRA adapters for both model kinds (``LSP_train.py --lora_r R``), through ``peft``.

The adapters are injected into the model in place (``peft.get_peft_model``), so the trainer keeps
training the same Hugging Face model through the same loss modules, DDP wrapper and optimizer:
only the LoRA matrices require gradients, so only they are optimised, clipped, synchronised and
saved in the optimizer state.

A checkpoint of a LoRA run holds (the layout of the README's "Fine-tuning on a task" section):

- the merged weights (each targeted ``W`` replaced by ``W + scaling * B @ A``) as
  ``model.safetensors``: the directory loads with ``from_pretrained``, decodes and serves like
  any other checkpoint;
- ``adapter/``: the adapter alone in PEFT's format (``adapter_config.json``,
  ``adapter_model.safetensors``), for ``PeftModel.from_pretrained(base, CHECKPOINT/adapter)``.

``--resume`` rebuilds the base model from where the run started (recorded in
``trainer_state.json``), injects the same adapters and loads ``adapter/``; it checks that the
result reproduces the checkpoint's merged weights, so a base model that changed since is named
rather than silently trained on.

Merging is computed beside the training weights (the base layers are never modified), so saving
does not perturb training and resume is exact.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dialogpt.cli import UserError
from dialogpt.extras import missing_message, require

logger = logging.getLogger(__name__)

ADAPTER_DIR = "adapter"
"""Sub-directory of a checkpoint holding the adapter in PEFT's format (not at the top level, where
``from_pretrained`` would take the directory for a bare adapter)."""
INSTALL_HINT = missing_message("peft", "LoRA")

DEFAULT_TARGETS: dict[str, tuple[str, ...]] = {
    "gpt2": ("c_attn",),
    "t5": ("q", "v"),
    "mt5": ("q", "v"),
    "bart": ("q_proj", "v_proj"),
}
"""Modules adapted when ``--lora_target_modules`` is not given: the attention's query and value
projections, as in the LoRA paper (GPT-2 computes query, key and value in one ``c_attn``)."""

TARGETS_HELP = ("module names to adapt (default by model type: " + "; ".join(
    f"{kind} {' '.join(names)}" for kind, names in DEFAULT_TARGETS.items())
    + "); 'all-linear' adapts every linear layer but the output layer. Other module names: "
    "GPT-2 c_attn c_proj c_fc, T5 q k v o wi wo (wi_0 wi_1 gated), BART q_proj k_proj v_proj "
    "out_proj fc1 fc2")


@dataclass(frozen=True)
class LoraSettings:
    """The ``--lora_*`` flags (``r == 0``: no LoRA)."""

    r: int
    alpha: float | None = None
    dropout: float = 0.0
    target_modules: tuple[str, ...] | None = None

    @property
    def scaling_alpha(self) -> float:
        """``--lora_alpha``, by default ``2 * r`` (so the scaling alpha / r is 2)."""
        return self.alpha if self.alpha is not None else 2.0 * self.r


def import_peft():
    """The ``peft`` module, or a ``UserError`` saying how to install it."""
    return require("peft", "LoRA")


def target_modules(model_type: str, given: tuple[str, ...] | None) -> list[str] | str:
    """``given``, else the default of ``model_type``; ``all-linear`` passes through as PEFT's
    keyword."""
    if given:
        return "all-linear" if tuple(given) == ("all-linear",) else list(given)
    if model_type in DEFAULT_TARGETS:
        return list(DEFAULT_TARGETS[model_type])
    raise UserError(f"no default LoRA target modules for model type {model_type!r}; pass "
                    "--lora_target_modules NAME ... (or all-linear)")


def add_adapters(model, settings: LoraSettings):
    """Inject LoRA adapters into ``model`` in place; return the ``PeftModel`` wrapping it (whose
    ``get_base_model()`` is ``model``, now with only the adapters trainable)."""
    peft = import_peft()
    from dialogpt.modeling import is_seq2seq

    model_type = model.config.model_type
    targets = target_modules(model_type, settings.target_modules)
    config = peft.LoraConfig(
        r=settings.r, lora_alpha=settings.scaling_alpha, lora_dropout=settings.dropout,
        target_modules=targets, fan_in_fan_out=model_type == "gpt2",  # GPT-2's Conv1D is (in, out)
        task_type="SEQ_2_SEQ_LM" if is_seq2seq(model) else "CAUSAL_LM")
    try:
        with warnings.catch_warnings():  # peft asks the model a deprecated property
            warnings.simplefilter("ignore", FutureWarning)
            return peft.get_peft_model(model, config)
    except ValueError as exc:  # peft: "Target modules {...} not found in the base model"
        raise UserError(f"--lora_target_modules {' '.join(settings.target_modules or targets)}: "
                        f"{exc}. Linear modules of this {model_type} model: "
                        f"{', '.join(linear_module_names(model))}") from None


def linear_module_names(model) -> list[str]:
    """The distinct last names of the model's linear layers (what ``--lora_target_modules`` can
    name)."""
    from torch import nn
    from transformers.pytorch_utils import Conv1D

    return sorted({name.rsplit(".", 1)[-1] for name, module in model.named_modules()
                   if isinstance(module, (nn.Linear, Conv1D))})


def parameter_counts(model) -> tuple[int, int]:
    """(trainable parameters, all parameters) of ``model``, tied parameters counted once."""
    params = list(model.parameters())
    return sum(p.numel() for p in params if p.requires_grad), sum(p.numel() for p in params)


def describe(adapted, settings: LoraSettings) -> str:
    """The start-up line: what is adapted and the trainable share of all parameters."""
    trainable, total = parameter_counts(adapted.get_base_model())
    config = adapted.peft_config["default"]
    targets = config.target_modules
    targets = " ".join(sorted(targets)) if not isinstance(targets, str) else targets
    matrices = len(lora_layers(adapted))
    return (f"LoRA: r={settings.r}, alpha={settings.scaling_alpha:g}, dropout "
            f"{settings.dropout:g}, target modules {targets} ({matrices} matrices); trainable "
            f"parameters {trainable:,} of {total:,} ({100.0 * trainable / total:.4f}%)")


def lora_layers(adapted) -> dict[str, Any]:
    """Module name (in the base model) -> each injected LoRA layer."""
    from peft.tuners.lora import LoraLayer

    return {name: module for name, module in adapted.get_base_model().named_modules()
            if isinstance(module, LoraLayer)}


def merged_state_dict(adapted) -> dict[str, Any]:
    """The base model's state dict with every adapted weight merged (``W + delta``) under its
    plain name, and no adapter tensors: what ``from_pretrained`` expects. Computed beside the
    training weights, which are left untouched."""
    import torch

    base = adapted.get_base_model()
    layers = lora_layers(adapted)
    merged = {}
    with torch.no_grad():
        for key, tensor in base.state_dict().items():
            if ".lora_" in key:
                continue
            owner, _, leaf = key.rpartition(".base_layer.")
            if owner in layers:
                if leaf == "weight":
                    delta = layers[owner].get_delta_weight("default")
                    tensor = tensor + delta.to(tensor.dtype)
                key = f"{owner}.{leaf}"
            merged[key] = tensor
    return merged


def save_adapter(adapted, directory: Path, base_source: str) -> None:
    """Write the adapter in PEFT's format into ``directory`` (created)."""
    config = adapted.peft_config["default"]
    config.base_model_name_or_path = base_source
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # peft's notes on missing hub configs of local paths
        adapted.save_pretrained(str(directory), safe_serialization=True)


def load_adapter(adapted, checkpoint: Path) -> None:
    """Load ``checkpoint/adapter`` into the injected adapters exactly; a missing or mismatched
    adapter is a ``UserError`` naming the fix."""
    import json

    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    directory = Path(checkpoint) / ADAPTER_DIR
    weights, config_file = directory / "adapter_model.safetensors", directory / "adapter_config.json"
    if not weights.is_file() or not config_file.is_file():
        raise UserError(f"--resume {checkpoint}: no LoRA adapter there ({directory} lacks "
                        "adapter_config.json or adapter_model.safetensors); it was not written by "
                        "a LoRA run: start a new run with --model_name_or_path "
                        f"{checkpoint} --lora_r R instead")
    saved = json.loads(config_file.read_text(encoding="utf-8"))
    ours = adapted.peft_config["default"]
    targets = ours.target_modules if isinstance(ours.target_modules, str) else \
        sorted(ours.target_modules)
    theirs = saved.get("target_modules")
    theirs = theirs if isinstance(theirs, str) else sorted(theirs or [])
    if (saved.get("r"), saved.get("lora_alpha"), theirs) != (ours.r, ours.lora_alpha, targets):
        raise UserError(f"--resume {checkpoint}: its adapter has r={saved.get('r')}, "
                        f"alpha={saved.get('lora_alpha')}, target modules {theirs}; resume with "
                        "the same --lora_r, --lora_alpha and --lora_target_modules")
    state = load_file(str(weights))
    result = set_peft_model_state_dict(adapted, state)
    unexpected = getattr(result, "unexpected_keys", [])
    loaded = {name for name, _ in adapted.named_parameters() if "lora_" in name}
    if unexpected or len(state) != len(loaded):
        raise UserError(f"--resume {checkpoint}: {weights} does not fit this model's adapters "
                        f"({len(state)} tensors for {len(loaded)}); resume with the flags and "
                        "model of that run")


def check_merged_matches(adapted, checkpoint: Path) -> None:
    """The rebuilt base plus the loaded adapter must give the checkpoint's merged weights: a base
    model changed since the run started would otherwise be trained on silently."""
    import torch
    from safetensors import safe_open

    merged = merged_state_dict(adapted)
    with safe_open(str(Path(checkpoint) / "model.safetensors"), framework="pt") as saved:
        for name in saved.keys():
            ours = merged.get(name)
            if ours is None:
                continue   # tied copies saved once under the other name
            if not torch.allclose(ours, saved.get_tensor(name), rtol=1e-5, atol=1e-6):
                raise UserError(f"--resume {checkpoint}: the base model this LoRA run started "
                                f"from has changed since ({name} differs from the checkpoint's "
                                "merged weights); resume needs the same base weights")


def adapt(model, settings: LoraSettings | None, resume_dir: Path | None):
    """Inject the adapters of ``settings`` into ``model`` (``None``: full fine-tuning, nothing to
    do) and, when resuming, load the checkpoint's adapter; return the ``PeftModel`` or ``None``.
    A LoRA checkpoint resumed without ``--lora_r`` is refused with the flags it needs."""
    if settings is None:
        if resume_dir is not None and (Path(resume_dir) / ADAPTER_DIR).is_dir():
            raise UserError(f"--resume {resume_dir}: it was written by a LoRA run; resume with "
                            f"its flags: {_flags_of(Path(resume_dir) / ADAPTER_DIR)}")
        return None
    adapted = add_adapters(model, settings)
    if resume_dir is not None:
        load_adapter(adapted, resume_dir)
        check_merged_matches(adapted, resume_dir)
    return adapted


def _flags_of(adapter_dir: Path) -> str:
    import json

    try:
        saved = json.loads((adapter_dir / "adapter_config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "--lora_r R (see its adapter/adapter_config.json)"
    targets = saved.get("target_modules")
    targets = targets if isinstance(targets, str) else " ".join(sorted(targets or []))
    return (f"--lora_r {saved.get('r')} --lora_alpha {saved.get('lora_alpha')} "
            f"--lora_target_modules {targets}")


def warn_if_untrained(model_name_or_path: str, init_checkpoint: str | None) -> None:
    """LoRA adapts pretrained weights: say so when the base is freshly initialised."""
    from dialogpt.modeling import has_weights

    source = Path(model_name_or_path)
    if not init_checkpoint and (source.is_file() or (source.is_dir() and not has_weights(source))):
        logger.warning("--lora_r on %s, a config without weights: the adapters will adapt "
                       "randomly initialised weights; pass a pretrained model directory or "
                       "--init_checkpoint", model_name_or_path)
