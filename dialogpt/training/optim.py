"""Optimizers: torch AdamW (the default) and the original DialoGPT BERT-Adam.

``adamw``: ``torch.optim.AdamW`` (fused kernels where available), weight decay on matrices and
embeddings only (biases and LayerNorm gains are not decayed), clipping by the global gradient
norm in the training loop.

``original``: the BERT-style Adam of the original ``lsp_model/optim.py``, reproduced on purpose:
no bias correction, eps 1e-6, each tensor's gradient clipped to norm ``max_grad_norm`` on its own,
decay ``p -= lr * wd * p`` added to the update, and — because the original's parameter groups set a
key the optimizer never read — every tensor decayed, biases and LayerNorms included.
"""

from __future__ import annotations

from typing import Iterable

import torch
from torch import nn


class BertAdam(torch.optim.Optimizer):
    """The original DialoGPT optimizer (see the module docstring)."""

    def __init__(self, params: Iterable, lr: float, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-6, weight_decay: float = 0.01, max_grad_norm: float = 1.0):
        if lr < 0 or eps < 0 or weight_decay < 0:
            raise ValueError("lr, eps and weight_decay must be >= 0")
        if not all(0.0 <= beta < 1.0 for beta in betas):
            raise ValueError(f"betas must be in [0, 1), got {betas}")
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                                      max_grad_norm=max_grad_norm))

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for param in group["params"]:
                if param.grad is None:
                    continue
                grad = param.grad
                state = self.state[param]
                if not state:
                    state["step"] = torch.zeros((), dtype=torch.float32)
                    state["exp_avg"] = torch.zeros_like(param, memory_format=torch.preserve_format)
                    state["exp_avg_sq"] = torch.zeros_like(param,
                                                           memory_format=torch.preserve_format)
                if group["max_grad_norm"] > 0:
                    torch.nn.utils.clip_grad_norm_(param, group["max_grad_norm"])
                exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
                exp_avg.mul_(beta1).add_(grad, alpha=1 - beta1)
                exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
                update = exp_avg / (exp_avg_sq.sqrt() + group["eps"])
                if group["weight_decay"] > 0:
                    update.add_(param, alpha=group["weight_decay"])
                param.add_(update, alpha=-group["lr"])
                state["step"] += 1
        return loss


def decay_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Parameter groups: decay tensors of rank >= 2 (matrices, embeddings), not biases/LayerNorm.

    Tied parameters (GPT-2's input and output embeddings) appear once.
    """
    decay, no_decay = [], []
    for param in model.parameters():
        if param.requires_grad:
            (decay if param.ndim >= 2 else no_decay).append(param)
    return [{"params": decay, "weight_decay": weight_decay},
            {"params": no_decay, "weight_decay": 0.0}]


def build_optimizer(model: nn.Module, name: str, lr: float, weight_decay: float,
                    max_grad_norm: float) -> torch.optim.Optimizer:
    """``adamw`` (the fused kernel where torch has one for the device: CUDA, and CPU since
    torch 2.4, about 3x faster than the per-tensor loop there) or ``original`` (``BertAdam``)."""
    if name == "original":
        params = [param for param in model.parameters() if param.requires_grad]
        return BertAdam(params, lr=lr, weight_decay=weight_decay, max_grad_norm=max_grad_norm)
    if name != "adamw":
        raise ValueError(f"unknown optimizer {name!r}")
    groups = decay_groups(model, weight_decay)
    try:
        return torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.999), eps=1e-8, fused=True)
    except (RuntimeError, ValueError):  # no fused kernel for this device or dtype
        return torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.999), eps=1e-8)


def clips_per_tensor(optimizer: torch.optim.Optimizer) -> bool:
    """Whether the optimizer clips gradients itself (so the loop must not clip globally)."""
    return isinstance(optimizer, BertAdam)
