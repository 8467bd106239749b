"""The training loop: micro-batches, accumulation, mixed precision, clipping, logging, saving.

One optimizer step:

1. take ``gradient_accumulation_steps`` micro-batches from this process's loader;
2. count the labelled tokens of the step over all processes (one small ``all_reduce``), so each
   micro-batch's summed token loss is scaled by ``world_size / labelled_tokens``: after DDP's
   gradient average the update is the gradient of the token-mean loss of the whole step, however
   the batch is split (the original summed gradients over micro-batches and processes);
3. forward under autocast (bf16/fp16), backward through the grad scaler (fp16), DDP's
   ``no_sync`` on all but the last micro-batch;
4. unscale, clip by the global norm (or per tensor with the original optimizer), step unless the
   loss or the gradients are non-finite (fp16: the scaler decides), set the scheduled rate first.

Rank 0 logs every step, saves a checkpoint every ``--save_step`` and at the end; evaluation is
sharded over all processes every ``--valid_step`` and at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

import torch

from dialogpt.cli import UserError
from dialogpt.training import checkpoint as ckpt
from dialogpt.training import components
from dialogpt.training.args import resolve_precision
from dialogpt.training.distributed import DistContext
from dialogpt.training.logs import RunLogger
from dialogpt.training.loss import CausalLMLoss, LossSums
from dialogpt.training.optim import build_optimizer, clips_per_tensor
from dialogpt.training.prefetch import prefetched, with_positions
from dialogpt.training.schedules import learning_rate

logger = logging.getLogger(__name__)

_AUTOCAST_DTYPES = {"fp16": torch.float16, "bf16": torch.bfloat16}


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


@dataclass
class StepResult:
    sums: LossSums
    n_token_real: int
    n_token_total: int
    lr: float
    grad_norm: float
    skipped: bool
    nonfinite: bool
    seconds: float


def _groups(batches: Iterable[tuple[dict, dict]], size: int) -> Iterator[list[tuple[dict, dict]]]:
    """Consecutive groups of ``size`` (micro-batch, position); a partial last group is dropped."""
    group: list[tuple[dict, dict]] = []
    for batch in batches:
        group.append(batch)
        if len(group) == size:
            yield group
            group = []


def _jsonable_args(args: argparse.Namespace) -> dict[str, Any]:
    return {key: value for key, value in vars(args).items()
            if value is None or isinstance(value, (str, int, float, bool))}


class Trainer:
    """Holds the model, optimizer, loaders and counters of one run; ``run()`` trains."""

    def __init__(self, args: argparse.Namespace, ctx: DistContext):
        self.args = args
        self.ctx = ctx
        self.device = ctx.device
        self.precision = resolve_precision(args, ctx.device.type)
        self.output_dir = Path(args.output_dir)
        self.progress = Progress()
        self.last_eval: LossSums | None = None
        self._loader_position: dict | None = None
        self._checkpointed_step = -1
        self._evaluated_step = -1
        failure: Exception | None = None
        try:
            self._set_up()
        except Exception as exc:  # every process must learn of it, or the others would hang
            failure = exc
        reports = ctx.all_gather_object(None if failure is None else str(failure))
        if failure is not None:
            raise failure
        elsewhere = [(rank, report) for rank, report in enumerate(reports) if report]
        if elsewhere:
            raise UserError(f"set-up failed on process {elsewhere[0][0]}: {elsewhere[0][1]}")

    # ------------------------------------------------------------------ set-up
    def _set_up(self) -> None:
        args, ctx = self.args, self.ctx
        self.resume_dir = ckpt.resolve_resume(args.resume, args.continue_from, self.output_dir)
        if self.resume_dir is None and ckpt.list_checkpoints(self.output_dir):
            raise UserError(f"--output_dir {self.output_dir} already holds checkpoints; pass "
                            "--resume auto to continue that run, or choose a new --output_dir")
        torch.manual_seed(args.seed)
        self.db = components.open_train_db(args.train_input_file, verify=ctx.is_main)
        self.tokenizer = components.load_training_tokenizer(args, self.db.manifest)
        config = components.model_config_of(args, self.resume_dir)
        components.check_db_matches(args.train_input_file, self.db.manifest, self.tokenizer,
                                    config, args.max_seq_length)
        self.train_loader = components.build_train_loader(
            self.db, args.train_batch_size // args.gradient_accumulation_steps, args,
            ctx.rank, ctx.world_size)
        self.plan = components.make_plan(args, ctx.world_size, self.train_loader)
        self.eval_loader = (None if args.skip_eval
                            else components.build_eval_loader(args, self.tokenizer))

        self.model = components.build_model(args, self.resume_dir).to(self.device)
        self.model.train()
        if args.grad_checkpointing:
            components.enable_activation_checkpointing(self.model)
        if args.compile:
            self.model.base_model.compile()
        self.loss_module = CausalLMLoss(self.model)
        self.train_module: torch.nn.Module = self.loss_module
        if ctx.distributed:
            from torch.nn.parallel import DistributedDataParallel

            self.train_module = DistributedDataParallel(
                self.loss_module, device_ids=[ctx.local_rank] if self.device.type == "cuda"
                else None, gradient_as_bucket_view=True)
        self.optimizer = build_optimizer(self.model, args.optimizer, args.learning_rate,
                                         args.weight_decay, args.max_grad_norm)
        self.params = [param for param in self.model.parameters() if param.requires_grad]
        self.scaler = torch.amp.GradScaler(
            self.device.type, enabled=self.precision == "fp16",
            init_scale=args.loss_scale or 2.0 ** 16,
            growth_interval=2 ** 31 - 1 if args.loss_scale else 2000)
        if self.resume_dir is not None:
            self._restore(ckpt.load_training_state(self.resume_dir))
        else:
            torch.manual_seed(args.seed + ctx.rank)
        self._loader_position = self.train_loader.state_dict()
        if ctx.is_main:
            n_params = sum(param.numel() for param in self.params)
            logger.info(components.describe_plan(self.plan, args, str(self.device),
                                                 ctx.backend, self.precision, n_params,
                                                 self.db.manifest))
            if self.resume_dir is not None:
                logger.info("resuming from %s at step %d", self.resume_dir,
                            self.progress.global_step)

    def _restore(self, state: dict[str, Any]) -> None:
        """Load optimizer, scaler, counters, loader position and (last) RNG states."""
        ctx = self.ctx
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scaler.is_enabled() and state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        self.progress = Progress.from_dict(state["progress"])
        self._checkpointed_step = self.progress.global_step
        if state["world_size"] == ctx.world_size:
            try:
                self.train_loader.load_state_dict(state["loader"][ctx.rank])
            except ValueError as exc:
                raise UserError(f"cannot resume from {self.resume_dir}: {exc}") from exc
            ckpt.restore_rng_state(state["rng"][ctx.rank])
        else:
            logger.warning("the checkpoint was written by %d processes, this run has %d: data "
                           "restarts at the beginning of epoch %d and random streams are "
                           "reseeded, so the run is not an exact continuation",
                           state["world_size"], ctx.world_size, self.progress.epoch + 1)
            self.train_loader.set_epoch(self.progress.epoch)
            torch.manual_seed(self.args.seed + ctx.rank + self.progress.global_step)

    # ------------------------------------------------------------------ one step
    def _autocast(self):
        return torch.autocast(self.device.type, dtype=_AUTOCAST_DTYPES.get(self.precision),
                              enabled=self.precision in _AUTOCAST_DTYPES)

    def _forward(self, module: torch.nn.Module, batch: dict[str, torch.Tensor]):
        with self._autocast():
            return module(batch["input_ids"].to(self.device, non_blocking=True),
                          batch["position_ids"].to(self.device, non_blocking=True),
                          batch["labels"].to(self.device, non_blocking=True))

    def train_step(self, micro_batches: list[dict[str, torch.Tensor]]) -> StepResult:
        """One optimizer step on this process's ``micro_batches`` (see the module docstring)."""
        args, ctx = self.args, self.ctx
        started = time.perf_counter()
        local_counts = torch.tensor(
            [sum(int((batch["labels"] >= 0).sum()) for batch in micro_batches),
             sum(int(batch["attention_mask"].sum()) for batch in micro_batches),
             sum(batch["input_ids"].numel() for batch in micro_batches)], dtype=torch.float64)
        n_labelled, n_real, n_total = (round(value) for value in
                                       ctx.all_reduce_sum(local_counts).tolist())
        lr = learning_rate(args.lr_schedule, self.progress.global_step + 1,
                           base_lr=args.learning_rate, warmup_steps=args.warmup_steps,
                           warmup_proportion=args.warmup_proportion,
                           total_steps=args.num_optim_steps, n_embd=self.model.config.n_embd)
        for group in self.optimizer.param_groups:
            group["lr"] = lr

        loss_weight = ctx.world_size / max(n_labelled, 1)
        losses = torch.zeros(2, dtype=torch.float64, device=self.device)
        counts = [0, 0]
        for index, batch in enumerate(micro_batches):
            is_last = index == len(micro_batches) - 1
            sync = (contextlib.nullcontext() if is_last or not ctx.distributed
                    else self.train_module.no_sync())
            with sync:
                token_loss, example_loss, n_tokens, n_examples = self._forward(
                    self.train_module, batch)
                self.scaler.scale(token_loss * loss_weight).backward()
            losses += torch.stack([token_loss.detach(), example_loss]).double()
            counts[0] += n_tokens
            counts[1] += n_examples
        token_loss_sum, example_loss_sum, n_tokens, n_examples = \
            ctx.all_reduce_sum(torch.cat([losses, losses.new_tensor(counts)])).tolist()
        sums = LossSums(token_loss_sum, round(n_tokens), example_loss_sum, round(n_examples))

        self.scaler.unscale_(self.optimizer)
        grads = [param.grad for param in self.params if param.grad is not None]
        if args.max_grad_norm > 0 and not clips_per_tensor(self.optimizer):
            grad_norm = float(torch.nn.utils.clip_grad_norm_(self.params, args.max_grad_norm))
        else:
            grad_norm = float(torch.nn.utils.get_total_norm(grads))
        loss_finite = math.isfinite(sums.loss) or n_labelled == 0
        if self.scaler.is_enabled():
            scale_before = self.scaler.get_scale()
            self.scaler.step(self.optimizer)
            self.scaler.update()
            skipped = self.scaler.get_scale() < scale_before
            nonfinite = not loss_finite
        else:
            nonfinite = not (loss_finite and math.isfinite(grad_norm))
            skipped = nonfinite or n_labelled == 0
            if not skipped:
                self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return StepResult(sums=sums, n_token_real=n_real, n_token_total=n_total, lr=lr,
                          grad_norm=grad_norm, skipped=skipped, nonfinite=nonfinite,
                          seconds=time.perf_counter() - started)

    # ------------------------------------------------------------------ evaluation
    def evaluate(self) -> LossSums:
        """Loss statistics over the eval TSV, batches shared round-robin among processes.

        Random generator states are restored afterwards, so evaluating never changes training.
        """
        rng = ckpt.capture_rng_state()
        self.model.eval()
        local = torch.zeros(4, dtype=torch.float64, device=self.device)
        with torch.no_grad():
            for index, batch in enumerate(self.eval_loader):
                if index % self.ctx.world_size != self.ctx.rank:
                    continue
                token_loss, example_loss, n_tokens, n_examples = self._forward(
                    self.loss_module, batch)
                local += torch.tensor([token_loss.item(), example_loss.item(), n_tokens,
                                       n_examples], dtype=torch.float64, device=self.device)
        self.model.train()
        ckpt.restore_rng_state(rng)
        token_loss_sum, example_loss_sum, n_tokens, n_examples = \
            self.ctx.all_reduce_sum(local).tolist()
        return LossSums(token_loss_sum, round(n_tokens), example_loss_sum, round(n_examples))

    def _evaluate_and_log(self, run_log: RunLogger) -> None:
        sums = self.evaluate()
        self.last_eval = sums
        self._evaluated_step = self.progress.global_step
        progress = self.progress
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
            state = {"progress": asdict(progress), "optimizer": self.optimizer.state_dict(),
                     "scaler": self.scaler.state_dict() if self.scaler.is_enabled() else None,
                     "rng": rng_states, "loader": loader_states,
                     "world_size": self.ctx.world_size, "args": _jsonable_args(self.args)}
            summary = {"global_step": progress.global_step, "epoch": progress.epoch + 1,
                       "world_size": self.ctx.world_size, "precision": self.precision,
                       "examples_per_step": self.plan.examples_per_step,
                       "last_eval_loss": self.last_eval.loss if self.last_eval else None,
                       "model_name_or_path": self.args.model_name_or_path}
            try:
                ckpt.save_checkpoint(path, self.model, self.tokenizer, state, summary)
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

    # ------------------------------------------------------------------ the loop
    def _record(self, result: StepResult, run_log: RunLogger) -> None:
        progress, totals = self.progress, self.progress.epoch_totals
        progress.global_step += 1
        progress.train_seconds += result.seconds
        totals.seconds += result.seconds
        totals.n_token_real += result.n_token_real
        totals.n_token_total += result.n_token_total
        if not result.nonfinite:
            totals.finite_steps += 1
            totals.loss += result.sums.loss
            totals.ppl += result.sums.ppl
        progress.nonfinite_streak = progress.nonfinite_streak + 1 if result.nonfinite else 0
        steps = max(totals.finite_steps, 1)
        run_log.train_row({
            "epoch": progress.epoch + 1, "global_step": progress.global_step,
            "step": progress.micro_step, "mean_loss": totals.loss / steps,
            "mean_ppl": totals.ppl / steps, "n_token_real": totals.n_token_real,
            "n_token_total": totals.n_token_total, "epoch_time": totals.seconds,
            "loss": result.sums.loss, "ppl": result.sums.ppl, "exp_loss": result.sums.exp_loss,
            "lr": result.lr, "grad_norm": result.grad_norm,
            "n_token_labelled_step": result.sums.n_tokens,
            "n_token_real_step": result.n_token_real,
            "tokens_per_s": result.n_token_real / result.seconds,
            "labelled_tokens_per_s": result.sums.n_tokens / result.seconds,
            "skipped": result.skipped, "loss_scale": self.scaler.get_scale()
            if self.scaler.is_enabled() else None,
            "wall_time": progress.train_seconds})

    def _stop_if_diverged(self) -> None:
        streak = self.progress.nonfinite_streak
        if streak < self.args.max_nonfinite_steps:
            return
        last_good = ckpt.latest_checkpoint(self.output_dir)
        where = f"the last good checkpoint is {last_good}" if last_good else "no checkpoint yet"
        raise UserError(f"the loss or gradients were non-finite for {streak} consecutive steps "
                        f"(up to step {self.progress.global_step}; each was skipped); stopping. "
                        f"{where}: resume from it with a lower --learning_rate, or "
                        "--precision bf16/fp32")

    def run(self) -> LossSums | None:
        """Train to ``--num_optim_steps``; return the final evaluation (None with --skip_eval)."""
        args, progress = self.args, self.progress
        evaluating = self.eval_loader is not None
        run_log = RunLogger(args.log_dir or self.output_dir, self.ctx.is_main,
                            None if self.resume_dir is None else progress.global_step,
                            args.num_optim_steps, args.pbar)
        try:
            if evaluating and args.eval_at_start and progress.global_step == 0:
                self._evaluate_and_log(run_log)
            while progress.global_step < args.num_optim_steps:
                self._train_epoch(run_log)
            if self._checkpointed_step != progress.global_step:
                self.save()
            if evaluating and self._evaluated_step != progress.global_step:
                self._evaluate_and_log(run_log)
        finally:
            run_log.close()
        self.ctx.barrier()
        return self.last_eval

    def _train_epoch(self, run_log: RunLogger) -> None:
        """Train on the rest of the loader's current epoch, or until the last step."""
        args, progress = self.args, self.progress
        save_every = args.save_step or args.valid_step
        pin = self.device.type == "cuda" and args.num_workers > 0
        with contextlib.closing(prefetched(with_positions(self.train_loader),
                                           args.num_workers * 2, pin_memory=pin)) as batches:
            for group in _groups(batches, args.gradient_accumulation_steps):
                self._loader_position = group[-1][1]
                if self._loader_position["epoch"] != progress.epoch:
                    progress.epoch = self._loader_position["epoch"]
                    progress.epoch_totals = EpochTotals()
                result = self.train_step([batch for batch, _ in group])
                progress.micro_step += len(group)
                self._record(result, run_log)
                self._stop_if_diverged()
                if progress.global_step % save_every == 0 and not progress.nonfinite_streak:
                    self.save()
                if self.eval_loader is not None and progress.global_step % args.valid_step == 0:
                    self._evaluate_and_log(run_log)
                if progress.global_step >= args.num_optim_steps:
                    return
