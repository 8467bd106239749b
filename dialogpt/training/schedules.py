"""Learning-rate schedules of the original LSP_train.py, as pure functions of the step.

``step`` is the 1-based index of the optimizer step about to be taken (optimizer steps already
done + 1), the convention of the original's ``set_lr(..., global_step + 1, ...)``.
"""

from __future__ import annotations

SCHEDULES = ("noam", "noamwd", "BERT", "None")


def noam(step: int, base_lr: float, warmup_steps: int, n_embd: int) -> float:
    """Transformer ("Attention is all you need") schedule, scaled by the original's 1e4.

    ``base_lr * 1e4 * n_embd^-0.5 * min(step^-0.5, step * warmup_steps^-1.5)``: linear warm-up to
    the peak at ``step == warmup_steps``, then decay as ``step^-0.5``.
    """
    return base_lr * 1e4 * n_embd ** -0.5 * min(step ** -0.5, step * warmup_steps ** -1.5)


def noamwd(step: int, base_lr: float, warmup_steps: int, n_embd: int,
           rate: float = 0.5, decay_steps: int = 1000, start_step: int = 500) -> float:
    """``noam`` times a step decay: halved every 1000 steps, the first halving at step 500."""
    exponent = max(step - start_step + decay_steps, 0) // decay_steps
    return noam(step, base_lr, warmup_steps, n_embd) * rate ** exponent


def bert(step: int, base_lr: float, total_steps: int, warmup_proportion: float) -> float:
    """Linear warm-up over ``warmup_proportion`` of ``total_steps``, then linear decay to 0.

    ``x = (step - 1) / total_steps``; ``x / p`` while ``x < p``, else ``(1 - x) / (1 - p)``.
    Unlike the original, the factor is clamped at 0 after ``total_steps`` (no negative rates).
    """
    x = (step - 1) / total_steps
    if x < warmup_proportion:
        factor = x / warmup_proportion
    else:
        factor = (1.0 - x) / (1.0 - warmup_proportion)
    return base_lr * max(factor, 0.0)


def constant(step: int, base_lr: float) -> float:
    """The ``None`` schedule: ``base_lr`` at every step."""
    return base_lr


def learning_rate(schedule: str, step: int, *, base_lr: float, warmup_steps: int,
                  warmup_proportion: float, total_steps: int, n_embd: int) -> float:
    """The rate for optimizer step ``step`` (1-based) under ``schedule`` (one of ``SCHEDULES``)."""
    if step < 1:
        raise ValueError(f"step is 1-based, got {step}")
    if schedule == "noam":
        return noam(step, base_lr, warmup_steps, n_embd)
    if schedule == "noamwd":
        return noamwd(step, base_lr, warmup_steps, n_embd)
    if schedule == "BERT":
        return bert(step, base_lr, total_steps, warmup_proportion)
    if schedule == "None":
        return constant(step, base_lr)
    raise ValueError(f"unknown learning-rate schedule {schedule!r}; expected one of {SCHEDULES}")
