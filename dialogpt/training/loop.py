"""The training loop, read top-down: ``run`` -> ``_train_epoch`` -> ``train_step``.

One optimizer step (``train_step``):

1. count the step's labelled tokens over all processes (one small ``all_reduce``);
2. set the scheduled learning rate;
3. forward and backward every micro-batch under autocast (bf16/fp16), the summed token loss
   scaled by ``world_size / labelled_tokens``: after DDP's gradient average the update is the
   gradient of the token-mean loss of the whole step, however the batch is split (the original
   summed gradients over micro-batches and processes); DDP's ``no_sync`` on all but the last;
4. unscale (fp16), clip by the global norm (or per tensor with the original optimizer), and step
   unless ``skip_decision`` says the loss or the gradients are non-finite.

Rank 0 logs every step; a checkpoint is saved every ``--save_step`` and at the end; evaluation is
sharded over all processes every ``--valid_step`` and at the end. Below the loop: evaluation,
saving, and ``setup()``, which builds every part of the run in one pass (start, data, model,
optimizer, schedule, resumed state, outlook). What a checkpoint holds is ``resume.py``'s
business.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import torch

from dialogpt import grounding
from dialogpt.cli import SEED_LIMIT, UserError
from dialogpt.interrupts import GracefulStop
from dialogpt.training import checkpoint as ckpt
from dialogpt.training import compat, data, lora, model_setup, resume
from dialogpt.training.args import TrainConfig
from dialogpt.training.distributed import DistContext
from dialogpt.training.logs import RunLogger
from dialogpt.training.loss import LossSums, loss_module_for
from dialogpt.training.optim import build_optimizer, clips_per_tensor
from dialogpt.training.plan_report import Outlook, describe_plan
from dialogpt.training.precision import (autocast, grad_scaler, precision_for_model,
                                         resolve_precision)
from dialogpt.training.resume import EpochTotals, Progress
from dialogpt.training.schedules import learning_rate
from dialogpt.training.step_batches import step_batches

logger = logging.getLogger(__name__)


class StepTokens(NamedTuple):
    """Token counts of one optimizer step, summed over processes."""

    labelled: int
    real: int
    total: int


@dataclass
class StepResult:
    sums: LossSums
    tokens: StepTokens
    lr: float
    grad_norm: float
    skipped: bool
    nonfinite: bool
    seconds: float


class Trainer:
    """Holds the model, optimizer, loaders and counters of one run; ``run()`` trains.

    ``__init__`` sets what the run is given and what it will record; ``setup()`` every part it
    builds. No other method adds an attribute."""

    def __init__(self, config: TrainConfig, ctx: DistContext, stop: GracefulStop | None = None):
        self.config, self.ctx, self.device = config, ctx, ctx.device
        self.output_dir = Path(config.output_dir)
        self.stop, self.stopped = stop, False  # Ctrl-C/SIGTERM: stop after the current step
        self.last_eval: LossSums | None = None  # the newest evaluation, and its step
        self._evaluated_step = -1
        self._last_loss = math.nan              # the newest step's loss (checkpoint summaries)
        failure = None
        try:
            self.setup()
        except Exception as exc:  # every process must learn of it, or the others would hang
            failure = exc
        ctx.raise_if_failed_anywhere(failure)

    # ------------------------------------------------------------------ the run
    def run(self) -> LossSums | None:
        """Train to ``--num_optim_steps``; return the final evaluation (None with --skip_eval)."""
        config, progress = self.config, self.progress
        run_log = RunLogger(config.log_dir or self.output_dir, self.ctx.is_main,
                            None if self.resume_dir is None else progress.global_step,
                            config.num_optim_steps, config.pbar, config.tensorboard)
        try:
            if self.eval_loader is not None and config.eval_at_start and not progress.global_step:
                self._evaluate_and_log(run_log)
            while progress.global_step < config.num_optim_steps and not self.stopped:
                self._train_epoch(run_log)
            if self._checkpointed_step != progress.global_step:
                self.save()
            if self.stopped:
                self._explain_stop()
            elif self.eval_loader is not None and self._evaluated_step != progress.global_step:
                self._evaluate_and_log(run_log)
        finally:
            run_log.close()
        self.ctx.barrier()
        return None if self.stopped else self.last_eval

    def _train_epoch(self, run_log: RunLogger) -> None:
        """Train on the rest of the loader's current epoch, or until the last step."""
        config, progress = self.config, self.progress
        pin = self.device.type == "cuda" and config.num_workers > 0
        steps = step_batches(self.train_loader, config.gradient_accumulation_steps,
                             depth=config.num_workers * 2, pin_memory=pin)
        with contextlib.closing(steps):
            for micro_batches, position in steps:
                self._loader_position = position        # what a checkpoint saved now resumes
                if position["epoch"] != progress.epoch:
                    progress.epoch, progress.epoch_totals = position["epoch"], EpochTotals()
                result = self.train_step(micro_batches)
                progress.micro_step += len(micro_batches)
                self._record(result, run_log)
                self._stop_if_diverged()
                if progress.global_step % config.save_every == 0 and not progress.nonfinite_streak:
                    self.save()
                if self.eval_loader is not None and progress.global_step % config.valid_step == 0:
                    self._evaluate_and_log(run_log)
                if progress.global_step >= config.num_optim_steps or self._stop_requested():
                    return

    def train_step(self, micro_batches: list[dict[str, torch.Tensor]]) -> StepResult:
        """One optimizer step on this process's ``micro_batches`` (see the module docstring)."""
        started = time.perf_counter()
        tokens = self._count_tokens(micro_batches)
        lr = self.lr_at(self.progress.global_step + 1)
        for group in self.optimizer.param_groups:
            group["lr"] = lr

        # forward and backward: each micro-batch's summed token loss, weighted by the step's
        # labelled tokens on all processes (DDP averages gradients over processes, and
        # synchronises them on the last micro-batch only)
        weight = self.ctx.world_size / max(tokens.labelled, 1)
        stats = torch.zeros(4, dtype=torch.float64, device=self.device)
        for index, batch in enumerate(micro_batches):
            last = index == len(micro_batches) - 1
            with (contextlib.nullcontext() if last or not self.ctx.distributed
                  else self.train_module.no_sync()):
                token_loss, batch_stats = self._forward(self.train_module, batch)
                self.scaler.scale(token_loss * weight).backward()
            stats += batch_stats
        sums = LossSums.from_tensor(self.ctx.all_reduce_sum(stats))

        # unscale, clip, and step unless the loss or the gradients are non-finite
        grad_norm = self._unscale_and_clip()
        skipped, nonfinite = skip_decision(
            math.isfinite(sums.loss) or not tokens.labelled, math.isfinite(grad_norm),
            has_labels=tokens.labelled > 0,
            overflow_is_routine=self.scaler.is_enabled() and not self.config.loss_scale)
        if not skipped:
            self.scaler.step(self.optimizer)
        self.scaler.update()
        self.optimizer.zero_grad(set_to_none=True)
        return StepResult(sums=sums, tokens=tokens, lr=lr, grad_norm=grad_norm,
                          skipped=skipped, nonfinite=nonfinite,
                          seconds=time.perf_counter() - started)

    # ------------------------------------------------------------------ step helpers
    def _count_tokens(self, micro_batches: list[dict[str, torch.Tensor]]) -> StepTokens:
        local = torch.tensor([self.loss_module.token_counts(batch) for batch in micro_batches],
                             dtype=torch.float64).sum(dim=0)
        counts = self.ctx.all_reduce_sum(local)
        return StepTokens(*(round(value) for value in counts.tolist()))

    def _forward(self, module: torch.nn.Module, batch: dict[str, torch.Tensor]):
        """(summed token loss, ``LossSums.stack``) of ``batch``; the model kind's loss module
        picks the inputs (causal: ids, positions; seq2seq: source, mask, shifted target)."""
        inputs = {name: tensor.to(self.device, non_blocking=True)
                  for name, tensor in self.loss_module.inputs(batch).items()}
        with autocast(self.device.type, self.precision):
            return module(**inputs)

    def _unscale_and_clip(self) -> float:
        """Unscale fp16 gradients, clip them (unless the optimizer clips per tensor); the norm."""
        self.scaler.unscale_(self.optimizer)
        if self.config.max_grad_norm > 0 and not clips_per_tensor(self.optimizer):
            return float(torch.nn.utils.clip_grad_norm_(self.params, self.config.max_grad_norm))
        grads = [param.grad for param in self.params if param.grad is not None]
        return float(torch.nn.utils.get_total_norm(grads))

    def _record(self, result: StepResult, run_log: RunLogger) -> None:
        """Advance the counters by one step and log it."""
        progress, totals, sums = self.progress, self.progress.epoch_totals, result.sums
        progress.global_step += 1
        progress.train_seconds += result.seconds
        progress.nonfinite_streak = progress.nonfinite_streak + 1 if result.nonfinite else 0
        self._last_loss = sums.loss
        totals.seconds += result.seconds
        totals.n_token_real += result.tokens.real
        totals.n_token_total += result.tokens.total
        if not result.nonfinite:
            totals.finite_steps += 1
            totals.loss += sums.loss
            totals.ppl += sums.ppl
        steps = max(totals.finite_steps, 1)
        run_log.train_row({
            "epoch": progress.epoch + 1, "global_step": progress.global_step,
            "step": progress.micro_step, "mean_loss": totals.loss / steps,
            "mean_ppl": totals.ppl / steps, "n_token_real": totals.n_token_real,
            "n_token_total": totals.n_token_total, "epoch_time": totals.seconds,
            "loss": sums.loss, "ppl": sums.ppl, "exp_loss": sums.exp_loss, "lr": result.lr,
            "grad_norm": result.grad_norm, "n_token_labelled_step": sums.n_tokens,
            "n_token_real_step": result.tokens.real,
            "tokens_per_s": result.tokens.real / result.seconds,
            "labelled_tokens_per_s": sums.n_tokens / result.seconds,
            "skipped": result.skipped,
            "loss_scale": self.scaler.get_scale() if self.scaler.is_enabled() else None,
            "wall_time": progress.train_seconds})
        for line in self.outlook.after_step(progress.global_step, progress.train_seconds):
            logger.info("%s", line)  # the plan in hours, once the speed is measured

    def _stop_if_diverged(self) -> None:
        streak, limit = self.progress.nonfinite_streak, self.config.max_nonfinite_steps
        if streak == 1 and limit > 1 and self.ctx.is_main:
            logger.warning("step %d: non-finite loss or gradients, update skipped; the run stops "
                           "after %d such steps in a row (--max_nonfinite_steps). If it goes on, "
                           "try %s", self.progress.global_step, limit, self._remedy())
        if streak < limit:
            return
        last_good = ckpt.newest_finite_checkpoint(self.output_dir)
        where = (f"resume from {last_good}, the newest checkpoint with finite weights and loss, "
                 f"with --resume {last_good} and {self._remedy()}" if last_good else
                 f"no checkpoint with finite weights and loss yet: start again with "
                 f"{self._remedy()}")
        raise UserError(f"the loss or gradients were non-finite for {streak} consecutive steps "
                        f"(up to step {self.progress.global_step}; each was skipped); stopping. "
                        f"{where}")

    def _remedy(self) -> str:
        """What fits this run: a lower rate, a warm-up, clipping, a wider precision."""
        config = self.config
        remedies = [f"a lower --learning_rate (now {config.learning_rate:g}, e.g. "
                    f"{config.learning_rate / 4:g})"]
        if config.lr_schedule not in ("noam", "noamwd", "BERT"):
            remedies.append("a warm-up (--lr_schedule BERT --warmup_proportion 0.1)")
        if config.max_grad_norm == 0:
            remedies.append("gradient clipping (--max_grad_norm 1.0)")
        wider = {"fp16": "--precision bf16 (or fp32)", "bf16": "--precision fp32"}
        if self.precision in wider:
            remedies.append(wider[self.precision])
        return ", ".join(remedies[:-1]) + (" or " if len(remedies) > 1 else "") + remedies[-1]

    def _stop_requested(self) -> bool:
        """Whether any process got Ctrl-C/SIGTERM (all then stop after the same step)."""
        local = self.stop is not None and self.stop.requested
        if self.ctx.distributed:
            flag = torch.tensor([float(local)], dtype=torch.float64)
            local = bool(self.ctx.all_reduce_sum(flag).item() > 0)
            if local and self.stop is not None and not self.stop.requested:
                self.stop.request()
        self.stopped = self.stopped or local
        return self.stopped

    def _explain_stop(self) -> None:
        if self.ctx.is_main:
            how = "SIGTERM" if self.stop.exit_code == 143 else "Ctrl-C"
            logger.warning("stopped by %s after step %d; saved %s. To continue exactly from "
                           "there, run the same command with --resume auto",
                           how, self.progress.global_step,
                           ckpt.checkpoint_path(self.output_dir, self.progress.global_step))

    # ------------------------------------------------------------------ evaluation
    def evaluate(self) -> LossSums:
        """Loss statistics over the eval file, batches shared round-robin among processes.

        Random generator states are restored afterwards, so evaluating never changes training.
        """
        rng = ckpt.capture_rng_state()
        self.model.eval()
        stats = torch.zeros(4, dtype=torch.float64, device=self.device)
        with torch.inference_mode():
            for index, batch in enumerate(self.eval_loader):
                if index % self.ctx.world_size == self.ctx.rank:
                    stats += self._forward(self.loss_module, batch)[1]
        self.model.train()
        ckpt.restore_rng_state(rng)
        return LossSums.from_tensor(self.ctx.all_reduce_sum(stats))

    def _evaluate_and_log(self, run_log: RunLogger) -> None:
        sums = self.last_eval = self.evaluate()
        progress = self.progress
        self._evaluated_step = progress.global_step
        run_log.eval_row({"epoch": progress.epoch + 1, "global_step": progress.global_step,
                          "step": progress.micro_step, "eval_loss": sums.loss,
                          "eval_ppl": sums.ppl, "eval_exp_loss": sums.exp_loss,
                          "n_tokens": sums.n_tokens, "n_examples": sums.n_examples,
                          "wall_time": progress.train_seconds})
        if self.ctx.is_main:
            logger.info("step %d: eval loss %.4f, ppl %.3f (original's), exp(loss) %.3f",
                        progress.global_step, sums.loss, sums.ppl, sums.exp_loss)

    # ------------------------------------------------------------------ checkpoints
    def save(self) -> Path:
        """Rank 0 writes ``checkpoint-step-N``; every rank contributes RNG and loader states."""
        progress = self.progress
        path = ckpt.checkpoint_path(self.output_dir, progress.global_step)
        rng_states = self.ctx.all_gather_object(ckpt.capture_rng_state())
        loader_states = self.ctx.all_gather_object(self._loader_position)
        error = None
        if self.ctx.is_main:
            state = resume.training_state(progress, self.optimizer, self.scaler, rng_states,
                                          loader_states, {**self.config.to_json(),
                                                          "model_name_or_path": self.model_source})
            summary = {"global_step": progress.global_step, "epoch": progress.epoch + 1,
                       "world_size": self.ctx.world_size, "precision": self.precision,
                       "examples_per_step": self.plan.examples_per_step,
                       "last_eval_loss": self.last_eval.loss if self.last_eval else None,
                       "train_loss": self._last_loss,
                       "model_name_or_path": self.model_source,
                       "resumed_from": str(self.resume_dir) if self.resume_dir else None}
            summary["init_checkpoint"] = self.init_source  # a LoRA resume rebuilds its base
            extra = ({grounding.GROUNDING_FILE: grounding.grounding_record(self.db.manifest)}
                     if self.db.kind == "seq2seq" else {})
            try:
                ckpt.save_checkpoint(path, self.model, self.tokenizer, state, summary, extra,
                                     **self._lora_outputs())
            except UserError as exc:  # "no space left writing PATH ...": already one line
                error = f"{exc}; earlier checkpoints are intact"
            except Exception as exc:  # any failure must reach every rank, then stop the run
                error = (f"could not write checkpoint {path} ({type(exc).__name__}: {exc}); "
                         "earlier checkpoints are intact")
        error = self.ctx.broadcast_object(error)
        if error:
            raise UserError(error)
        self._checkpointed_step = progress.global_step
        if self.ctx.is_main:
            logger.info("saved %s", path)
        return path

    def _lora_outputs(self) -> dict:
        """A LoRA checkpoint's merged weights and its adapter directory (none without LoRA)."""
        if self.adapted is None:
            return {}
        return {"weights": lora.merged_state_dict(self.adapted),
                "write_extra": lambda directory: lora.save_adapter(
                    self.adapted, directory / lora.ADAPTER_DIR, self.model_source)}

    # ------------------------------------------------------------------ set-up
    def setup(self) -> None:
        """Build every part of the run, top-down, checking each input before any step."""
        config, ctx = self.config, self.ctx
        # the start: the precision the flags ask for; a checkpoint to resume, or a fresh run
        asked_precision = resolve_precision(config, self.device.type)
        self.resume_dir = resume.find_start(config.resume, config.continue_from, self.output_dir)
        torch.manual_seed(config.seed)

        # data, checked against the model's config before any weights load
        self.db = data.open_train_db(config.train_input_file, verify=ctx.is_main)
        self.tokenizer = data.load_training_tokenizer(config.tokenizer, config.model_name_or_path,
                                                      self.db.manifest)
        model_config = model_setup.model_config_of(self.resume_dir or config.model_name_or_path)
        max_length = data.length_limit(config.max_seq_length, self.db)
        compat.check_run_fits(config, self.db, self.tokenizer, model_config, max_length,
                              self.resume_dir)
        self.precision = precision_for_model(
            asked_precision, config.precision is not None or config.fp16 is not None, model_config)
        self.train_loader = data.build_train_loader(self.db, config.micro_batch_size, max_length,
                                                    config.seed, ctx.rank, ctx.world_size)
        self.plan = data.make_plan(config, ctx.world_size, self.train_loader)
        self.config = config = data.with_epochs(config, self.plan)  # --num_train_epochs: steps
        self.eval_loader = (None if config.skip_eval
                            else data.build_eval_loader(config, self.tokenizer, self.db))
        self.eval_summary = data.eval_summary(self.eval_loader)

        # the model (LoRA adapters in it), its loss, DDP around that, the parameters trained
        self.model_source, self.init_source = model_setup.model_sources(config, self.resume_dir,
                                                                        warn=ctx.is_main)
        self.model, self.adapted = model_setup.build_model(
            config, self.resume_dir, (self.model_source, self.init_source), self.device)
        self.loss_module = loss_module_for(self.model)
        self.train_module = ctx.wrap(self.loss_module)
        self.params = [param for param in self.model.parameters() if param.requires_grad]

        # optimizer, fp16's loss scaler, and the learning rate of each (1-based) step
        self.optimizer = build_optimizer(self.model, config.optimizer, config.learning_rate,
                                         config.weight_decay, config.max_grad_norm)
        self.scaler = grad_scaler(self.device.type, self.precision, config.loss_scale)
        width = model_setup.model_width(self.model.config)
        self.lr_at = functools.partial(
            learning_rate, config.lr_schedule, base_lr=config.learning_rate,
            warmup_steps=config.warmup_steps, warmup_proportion=config.warmup_proportion,
            total_steps=config.num_optim_steps, n_embd=width)

        # resume: the checkpoint's counters, optimizer, scaler, loader and RNG states
        if self.resume_dir is not None:
            self.progress = resume.restore(
                ckpt.load_training_state(self.resume_dir), self.resume_dir,
                optimizer=self.optimizer, scaler=self.scaler, loader=self.train_loader,
                rank=ctx.rank, world_size=ctx.world_size, seed=config.seed)
        else:
            self.progress = Progress()
            torch.manual_seed((config.seed + ctx.rank) % SEED_LIMIT)  # 2**64 - 1 + rank wraps
        self._checkpointed_step = self.progress.global_step if self.resume_dir else -1
        self._loader_position = self.train_loader.state_dict()  # what a checkpoint now resumes

        # outlook: the plan, told now and once the speed is measured
        n_params = sum(param.numel() for param in self.model.parameters())
        self.outlook = Outlook(config, width, self.device.type, n_params,
                               self.progress.global_step, self.progress.train_seconds)
        if ctx.is_main:
            self._log_plan()

    def _log_plan(self) -> None:
        logger.info(describe_plan(self.plan, self.config, str(self.device), self.ctx.backend,
                                  self.precision, self.outlook.n_params, self.db.manifest,
                                  self.db.kind))
        if self.adapted is not None:
            logger.info("%s", lora.describe(self.adapted, self.config.lora))
        for line in self.outlook.at_start():
            logger.info("%s", line)
        if self.eval_summary:
            logger.info("%s", self.eval_summary)
        if self.resume_dir is not None:
            logger.info("resuming from %s at step %d", self.resume_dir, self.progress.global_step)


def skip_decision(loss_finite: bool, grads_finite: bool, *, has_labels: bool,
                  overflow_is_routine: bool) -> tuple[bool, bool]:
    """(skip the update, count the step as non-finite) — one rule for every precision.

    A step is skipped when its loss or gradients are non-finite, or no token was labelled.
    It counts toward ``--max_nonfinite_steps`` when the loss is non-finite, or the gradients are
    and that is not routine: with fp16's dynamic loss scale, overflowing gradients are how the
    scaler finds its scale (it halves and the step is skipped), not a sign of divergence.
    """
    skip = not (loss_finite and grads_finite and has_labels)
    nonfinite = not loss_finite or (not grads_finite and not overflow_is_routine)
    return skip, nonfinite
