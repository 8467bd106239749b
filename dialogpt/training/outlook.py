"""What a training plan means in time: printed at start-up and once the speed is measured.

The original's defaults (1,000,000 steps, noam warm-up over 16,000 steps, a checkpoint every
10,000) are sized for 8 V100s; on a CPU they mean a learning rate near zero for days and no
checkpoint for hours. These pure functions say so in numbers:

- :func:`peak_step`: the step where the schedule's learning rate is highest (noam: the warm-up's
  end; noamwd: earlier, as its halving every 1000 steps starts at step 500; BERT: at
  ``warmup_proportion`` of the run; None: constant);
- :func:`outlook_lines`: the plan at the measured seconds per step: time to the end, to the peak
  rate, to the first checkpoint and evaluation;
- :func:`cpu_suggestion`: on a CPU, when the plan takes longer than ``budget_hours``, a plan of a
  few minutes to an hour with the same flags.
"""

from __future__ import annotations

import math

from dialogpt.training.schedules import learning_rate

CPU_STEPS = 2000
"""Steps of the suggested CPU-sized run (warm-up a tenth of it, checkpoints every quarter)."""


def peak_step(schedule: str, warmup_steps: int, warmup_proportion: float, total_steps: int,
              n_embd: int = 768) -> int:
    """The 1-based step (<= ``total_steps``) with the highest learning rate (the first on ties)."""
    def rate(step: int) -> float:
        return learning_rate(schedule, step, base_lr=1.0, warmup_steps=max(warmup_steps, 1),
                             warmup_proportion=warmup_proportion, total_steps=total_steps,
                             n_embd=n_embd)

    if schedule == "None":
        return 1
    if schedule == "noam":
        return max(1, min(warmup_steps, total_steps))
    if schedule == "noamwd":
        span = range(1, min(warmup_steps, total_steps) + 1)
    else:  # BERT: the rate rises until warmup_proportion of the run, then falls
        middle = int(warmup_proportion * total_steps) + 1
        span = range(max(1, middle - 1), min(total_steps, middle + 1) + 1)
    return max(span, key=lambda step: (rate(step), -step))


def format_duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def first_multiple_after(done: int, every: int, total: int) -> int | None:
    """The first step > ``done`` that is a multiple of ``every`` and <= ``total`` (None if none)."""
    if every <= 0:
        return None
    step = (done // every + 1) * every
    return step if step <= total else None


def outlook_lines(*, total_steps: int, done_steps: int, seconds_per_step: float | None,
                  schedule: str, warmup_steps: int, warmup_proportion: float, base_lr: float,
                  n_embd: int, save_step: int, valid_step: int, skip_eval: bool) -> list[str]:
    """Lines describing the plan; times appear once ``seconds_per_step`` is measured."""
    def when(step: int) -> str:
        if seconds_per_step is None:
            return ""
        return f" (in {format_duration((step - done_steps) * seconds_per_step)})"

    def lr_at(step: int) -> float:
        return learning_rate(schedule, step, base_lr=base_lr, warmup_steps=max(warmup_steps, 1),
                             warmup_proportion=warmup_proportion, total_steps=total_steps,
                             n_embd=n_embd)

    remaining = total_steps - done_steps
    lines = [f"plan: {total_steps:,} optimizer steps, {remaining:,} to go"
             + (f": {format_duration(remaining * seconds_per_step)} at the measured "
                f"{seconds_per_step:.3g} s/step" if seconds_per_step is not None else "")]
    peak = peak_step(schedule, warmup_steps, warmup_proportion, total_steps, n_embd)
    now = min(done_steps + 1, total_steps)
    if schedule == "None":
        lines.append(f"learning rate: constant {base_lr:.3g} (--lr_schedule None)")
    elif peak > now:
        lines.append(f"learning rate: {lr_at(now):.3g} at step {now:,}, rising to its peak "
                     f"{lr_at(peak):.3g} at step {peak:,}{when(peak)} (--lr_schedule {schedule}, "
                     f"--warmup_steps/--warmup_proportion)")
    else:
        lines.append(f"learning rate: {lr_at(now):.3g} at step {now:,}, past its peak "
                     f"{lr_at(peak):.3g} at step {peak:,}")
    checkpoint = first_multiple_after(done_steps, save_step, total_steps)
    lines.append(f"first checkpoint: step {checkpoint:,}{when(checkpoint)} (--save_step)"
                 if checkpoint else f"checkpoint: at the end, step {total_steps:,}"
                 f"{when(total_steps)} (--save_step {save_step} is past it)")
    evaluation = None if skip_eval else first_multiple_after(done_steps, valid_step, total_steps)
    if evaluation:
        lines.append(f"first evaluation: step {evaluation:,}{when(evaluation)} (--valid_step)")
    return lines


def cpu_suggestion(*, device_type: str, total_steps: int, done_steps: int,
                   seconds_per_step: float, n_params: int, budget_hours: float = 2.0
                   ) -> str | None:
    """A CPU-sized configuration when the plan would take longer than ``budget_hours`` on CPU."""
    remaining = (total_steps - done_steps) * seconds_per_step
    if device_type != "cpu" or remaining <= budget_hours * 3600:
        return None
    steps = CPU_STEPS
    warmup = steps // 10
    save = steps // 4
    model = ""
    if n_params > 50_000_000:
        model = " --model_name_or_path configs/tiny (a 2-layer model; this one has " \
                f"{n_params / 1e6:.0f}M parameters)"
    estimate = format_duration(steps * seconds_per_step)
    return (f"this plan takes {format_duration(remaining)} on CPU. A CPU-sized run:{model} "
            f"--num_optim_steps {steps} --warmup_steps {warmup} --valid_step {save} "
            f"--save_step {save} (about {estimate} at this speed"
            + (", much less with the tiny model" if model else "") + ")")


def measured_seconds_per_step(elapsed: float, steps: int) -> float | None:
    """Mean seconds per step, or None before any step (or a non-finite clock)."""
    if steps <= 0 or not math.isfinite(elapsed) or elapsed <= 0:
        return None
    return elapsed / steps
