"""What a training plan means, told at start-up and once the speed is measured.

``describe_plan`` is the start-up summary (processes, batch, tokens, data, schedule, precision,
model). The rest says what the plan means in time: the original's defaults (1,000,000 steps, noam
warm-up over 16,000 steps, a checkpoint every 10,000) are sized for 8 V100s; on a CPU they mean a
learning rate near zero for days and no checkpoint for hours. These pure functions say so in
numbers:

- :func:`peak_step`: the step where the schedule's learning rate is highest (noam: the warm-up's
  end; noamwd: earlier, as its halving every 1000 steps starts at step 500; BERT: at
  ``warmup_proportion`` of the run; None: constant);
- :func:`outlook_lines`: the plan at the measured seconds per step: time to the end, to the peak
  rate, to the first checkpoint and evaluation;
- :func:`cpu_suggestion`: on a CPU, when the plan takes longer than ``budget_hours``, a plan of a
  few minutes to an hour with the same flags;
- :func:`busy_note`: on a CPU shared with other work, that the measured times are slower than an
  idle machine's (the README's times are for an idle 2-core box).

``Outlook`` says them for one run: at start-up, then once with the measured speed.
"""

from __future__ import annotations

import math
import os
from typing import TYPE_CHECKING, Any

from dialogpt.cli import usable_cores
from dialogpt.training.schedules import learning_rate

if TYPE_CHECKING:
    from dialogpt.training.args import TrainConfig
    from dialogpt.training.data import BatchPlan

CPU_STEPS = 2000
"""Steps of the suggested CPU-sized run (warm-up a tenth of it, checkpoints every quarter)."""


def describe_plan(plan: BatchPlan, config: TrainConfig, device: str, backend: str | None,
                  precision: str, n_params: int, manifest: dict[str, Any], kind: str) -> str:
    """The start-up summary printed before training."""
    epochs = config.num_optim_steps / plan.steps_per_epoch
    return "\n".join([
        "training plan:",
        f"  processes        {plan.world_size} ({backend or 'single process'}), device {device}",
        f"  batch            micro-batch {plan.micro_batch} x {plan.accumulation} accumulation x "
        f"{plan.world_size} processes = {plan.examples_per_step} examples per optimizer step",
        f"  tokens           up to {plan.max_tokens_per_step} per optimizer step "
        f"(max_seq_length {plan.max_seq_length})",
        f"  data             {plan.examples_used} examples used of {manifest.get('n_examples')} "
        f"({plan.examples_left_out} longer than max_seq_length left out), "
        f"{manifest.get('n_tokens')} tokens in the DB; {plan.steps_per_epoch} optimizer steps per "
        "epoch",
        f"  schedule         {config.num_optim_steps} optimizer steps (~{epochs:.2f} epochs), "
        f"lr {config.learning_rate} {config.lr_schedule}, optimizer {config.optimizer}",
        f"  precision        {precision}",
        f"  model            {n_params / 1e6:.1f}M parameters, {kind}",
    ])


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
                  n_embd: int, save_step: int, valid_step: int, skip_eval: bool,
                  current_pending: bool = False) -> list[str]:
    """Lines describing the plan; times appear once ``seconds_per_step`` is measured.

    ``current_pending``: step ``done_steps`` was just taken and its checkpoint and evaluation,
    if due, are still to come."""
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
    after = done_steps - 1 if current_pending else done_steps
    checkpoint = first_multiple_after(after, save_step, total_steps)
    lines.append(f"next checkpoint: step {checkpoint:,}{when(checkpoint)} (--save_step)"
                 if checkpoint else f"checkpoint: at the end, step {total_steps:,}"
                 f"{when(total_steps)} (--save_step {save_step} is past it)")
    evaluation = None if skip_eval else first_multiple_after(after, valid_step, total_steps)
    if evaluation:
        lines.append(f"next evaluation: step {evaluation:,}{when(evaluation)} (--valid_step)")
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


def busy_note(load_average: float, cores: int, threads: int) -> str | None:
    """One line when other processes keep at least one core (or half of them) busy: the 1-minute
    load average less this run's ``threads`` (an overestimate of its own share so soon after its
    start, so the note errs towards silence)."""
    others = load_average - threads
    if cores < 1 or others < max(1.0, cores / 2):
        return None
    return (f"this machine is busy (load average {load_average:.1f} on {cores} cores, this run "
            f"uses {threads} threads): other work shares the CPU, so the times above are longer "
            f"than on an idle machine (the README's times are for an idle 2-core box)")


def cpu_load() -> tuple[float, int, int] | None:
    """(1-minute load average, usable cores, torch threads), or None where the OS has no load
    average."""
    import torch

    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):
        return None
    return load, usable_cores(), torch.get_num_threads()


def measured_seconds_per_step(elapsed: float, steps: int) -> float | None:
    """Mean seconds per step, or None before any step (or a non-finite clock)."""
    if steps <= 0 or not math.isfinite(elapsed) or elapsed <= 0:
        return None
    return elapsed / steps


class Outlook:
    """The outlook of one run: its lines at start-up, then once more with the measured speed
    (after ``measure_steps`` steps, or ``measure_seconds`` of training, whichever comes first)."""

    def __init__(self, config, n_embd: int, device_type: str, n_params: int, done_steps: int,
                 done_seconds: float, measure_steps: int = 20, measure_seconds: float = 30.0):
        self.config, self.n_embd, self.device_type = config, n_embd, device_type
        self.n_params = n_params
        self.start_step, self.start_seconds = done_steps, done_seconds
        self.measure_steps, self.measure_seconds = measure_steps, measure_seconds
        self.measured = False

    def lines(self, done_steps: int, seconds_per_step: float | None,
              current_pending: bool = False) -> list[str]:
        c = self.config
        return outlook_lines(total_steps=c.num_optim_steps, done_steps=done_steps,
                             seconds_per_step=seconds_per_step, schedule=c.lr_schedule,
                             warmup_steps=c.warmup_steps, warmup_proportion=c.warmup_proportion,
                             base_lr=c.learning_rate, n_embd=self.n_embd,
                             save_step=c.save_every, valid_step=c.valid_step,
                             skip_eval=c.skip_eval, current_pending=current_pending)

    def at_start(self) -> list[str]:
        return self.lines(self.start_step, None)

    def after_step(self, global_step: int, train_seconds: float) -> list[str]:
        """Nothing until the speed is measured; then the lines with times, once."""
        steps = global_step - self.start_step
        elapsed = train_seconds - self.start_seconds
        if self.measured or (steps < self.measure_steps and elapsed < self.measure_seconds):
            return []
        if global_step >= self.config.num_optim_steps:
            return []
        self.measured = True
        speed = measured_seconds_per_step(elapsed, steps)
        if speed is None:
            return []
        lines = [f"measured over {steps} steps: " + line
                 if index == 0 else line
                 for index, line in enumerate(self.lines(global_step, speed, True))]
        hint = cpu_suggestion(device_type=self.device_type, total_steps=self.config.num_optim_steps,
                              done_steps=global_step, seconds_per_step=speed,
                              n_params=self.n_params)
        load = cpu_load() if self.device_type == "cpu" else None
        busy = busy_note(*load) if load else None
        return lines + [line for line in (busy, hint) if line]
