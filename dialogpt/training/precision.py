"""Which precision a run trains in, and the two torch pieces that carry it out.

``resolve_precision`` reads ``--precision`` / ``--fp16`` for the device (fp16 needs CUDA; the
original's ``--fp16 true`` default means fp16 on CUDA, fp32 on CPU); ``precision_for_model`` then
keeps T5 out of an fp16 it only got by that default. The step runs its forward passes under
``autocast`` and scales the loss with ``grad_scaler`` (a no-op outside fp16).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from dialogpt.cli import UserError

if TYPE_CHECKING:
    from dialogpt.training.args import TrainConfig

logger = logging.getLogger(__name__)


def resolve_precision(config: TrainConfig, device_type: str) -> str:
    """The autocast precision for ``device_type`` ('cpu' or 'cuda') from --precision / --fp16."""
    if config.precision is not None:
        wanted = config.precision
        source = f"--precision {wanted}"
    elif config.fp16 is None:
        return "fp16" if device_type == "cuda" else "fp32"
    else:
        wanted = "fp16" if config.fp16 else "fp32"
        source = f"--fp16 {str(config.fp16).lower()}"
    if wanted == "fp16" and device_type != "cuda":
        raise UserError(f"{source} needs a CUDA device; on CPU use --precision bf16 (fast with "
                        "AMX) or --precision fp32")
    return wanted


def precision_for_model(precision: str, explicit: bool, model_config) -> str:
    """T5 overflows in fp16 (activations beyond 65504; GODEL never trains in fp16): fp16 that
    only came from the original's ``--fp16`` default on CUDA becomes bf16 (fp32 on GPUs without
    it); fp16 asked for explicitly is kept, with a warning."""
    if precision != "fp16" or model_config.model_type not in ("t5", "mt5", "umt5"):
        return precision
    if explicit:
        logger.warning("T5 models overflow in fp16 (its activations exceed 65504; GODEL never "
                       "trains in fp16): expect skipped steps and NaN losses; use --precision "
                       "bf16 (or fp32)")
        return precision
    import torch

    chosen = "bf16" if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else "fp32"
    logger.warning("T5 models overflow in fp16, the original's --fp16 default on CUDA: training "
                   "in %s instead (pass --precision fp16 to insist)", chosen)
    return chosen


def autocast(device_type: str, precision: str):
    """The forward pass's autocast context: fp16/bf16, or disabled for fp32."""
    import torch

    dtype = {"fp16": torch.float16, "bf16": torch.bfloat16}.get(precision)
    return torch.autocast(device_type, dtype=dtype, enabled=dtype is not None)


def grad_scaler(device_type: str, precision: str, loss_scale: float):
    """fp16's loss scaler (dynamic, or fixed at ``loss_scale``); a disabled no-op otherwise."""
    import torch

    return torch.amp.GradScaler(device_type, enabled=precision == "fp16",
                                init_scale=loss_scale or 2.0 ** 16,
                                growth_interval=2 ** 31 - 1 if loss_scale else 2000)
