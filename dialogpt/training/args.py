"""Command line of ``LSP_train.py``: ``TrainConfig``, the parser generated from it, validation.

Every flag is one field of ``TrainConfig``, declared once with :func:`dialogpt.config.flag` (its
default, help text and group); :func:`dialogpt.config.add_flags` generates the argparse parser
(and so ``--help``) from those fields, in field order. Every original flag keeps its name, type,
default and meaning (``--train_batch_size`` is the number of examples per optimizer step on each
process; the micro-batch is that divided by ``--gradient_accumulation_steps``).
``--config FILE.json`` supplies defaults (:func:`dialogpt.config.parse_config`); flags given on
the command line win; keys starting with ``_`` are notes (the recipes in ``configs/recipes/`` cite
their sources there). ``TrainConfig.validate`` holds every check that needs no files, so a bad
command fails before anything heavy is loaded.
"""

from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass
from typing import Any, Sequence

from dialogpt.cli import UserError, check_seed, make_parser, seed_type
from dialogpt.config import add_flags, flag, parse_config
from dialogpt.training.lora import INSTALL_HINT, TARGETS_HELP, LoraSettings
from dialogpt.training.schedules import SCHEDULES

PRECISIONS = ("fp32", "fp16", "bf16")
OPTIMIZERS = ("adamw", "original")
DEVICES = ("auto", "cpu", "cuda")

DESCRIPTION = """\
Train a dialogue model on a token DB built by prepro.py (DialoGPT's LSP_train.py): a GPT-2
(DialoGPT) on a TSV DB, or a T5/BART encoder-decoder (GODEL) on a DB of GODEL JSONL records. The
kind comes from the model config; the DB must hold the same kind.

Runs on one process (python LSP_train.py ...) or many: torchrun --nproc_per_node=N LSP_train.py ...
(multi-node with --nnodes and a rendezvous endpoint), or python -m torch.distributed.launch.
Gradients are averaged over the labelled tokens of every micro-batch on every process, so an
update does not depend on how the batch is split (the original summed them).

Writes into --output_dir: train_log.txt / eval_log.txt (the original columns), train_log.jsonl /
eval_log.jsonl (plus learning rate, tokens/s, wall time), and checkpoint-step-N/ directories that
AutoModelForCausalLM (GODEL: AutoModelForSeq2SeqLM) and AutoTokenizer.from_pretrained load and
that --resume continues exactly; a GODEL checkpoint also holds grounding.json (its template).
"""

_MODEL, _BATCH, _OPTIM = "model and data", "batches and steps", "optimizer and schedule"
_PRECISION, _OUTPUT, _DIST = "precision and speed", "output and resume", "distributed"
_LORA = "LoRA (train low-rank adapters instead of every weight; needs peft)"


@dataclass
class TrainConfig:
    """Everything a training run is told; one field per ``LSP_train.py`` flag."""

    config: str | None = flag(
        None, "JSON object of flag defaults (keys are flag names without dashes, keys starting "
        "with _ are notes; e.g. a recipe of configs/recipes/); flags given on the command line "
        "override it", metavar="FILE.json")

    # model and data
    model_name_or_path: str | None = flag(
        None, "HF model directory, shipped config (configs/117M, configs/t5-tiny, "
        "configs/godel-v1_1-base, a config .json) for training from scratch, or Hugging Face Hub "
        "id (GPT-2 for DialoGPT; T5/BART for GODEL)", _MODEL)
    init_checkpoint: str | None = flag(
        None, "weights to start from: original DialoGPT .pkl, .safetensors, .bin or HF "
        "directory", _MODEL)
    tokenizer: str | None = flag(
        None, "tokenizer to save with checkpoints; default: the model directory's own, else the "
        "one the train DB was built with", _MODEL)
    train_input_file: str | None = flag(None, "token DB directory from prepro.py", _MODEL)
    eval_input_file: str | None = flag(
        None, "validation data: a TSV (context<TAB>response) for a causal DB, GODEL JSONL for a "
        "seq2seq DB (read with the DB's template, instruction and limits)", _MODEL)
    max_seq_length: int = flag(
        128, "longest example in tokens; longer DB examples are skipped (a seq2seq DB: its "
        "sources were fitted to its max_source_len by prepro.py, which applies instead)", _MODEL,
        kind=int)
    normalize_data: bool = flag(
        True, "original flag, kept for old commands: eval lines are always parsed like "
        "prepro.py (whitespace normalised)", _MODEL, kind=bool)
    no_token_id: bool = flag(
        True, "do not use token type ids (they are not stored; only true is supported)", _MODEL,
        kind=bool)
    num_workers: int = flag(
        0, "0: collate batches in the training thread; N > 0: a background thread prepares up "
        "to 2N batches ahead", _MODEL, kind=int)

    # batches and steps
    train_batch_size: int = flag(
        4, "examples per optimizer step on each process (must be divisible by "
        "--gradient_accumulation_steps)", _BATCH, kind=int)
    gradient_accumulation_steps: int = flag(2, "micro-batches per optimizer step", _BATCH,
                                            kind=int)
    eval_batch_size: int = flag(4, "examples per eval batch", _BATCH, kind=int)
    num_optim_steps: int = flag(
        1_000_000, "optimizer steps to train for (counted from step 0, also on resume)", _BATCH,
        kind=int)
    num_train_epochs: float | None = flag(
        None, "train for this many passes over the DB instead: --num_optim_steps becomes "
        "ceil(E x optimizer steps per epoch), as the plan printed at start-up says; default unset: "
        "--num_optim_steps decides", _BATCH,
        kind=float, metavar="E")
    valid_step: int = flag(10_000, "evaluate every this many optimizer steps", _BATCH, kind=int)
    save_step: int | None = flag(
        None, "save a checkpoint every this many optimizer steps (default: --valid_step); one is "
        "always saved at the end", _BATCH, kind=int)
    eval_at_start: bool = flag(False, "evaluate before the first step", _BATCH, kind=bool)
    skip_eval: bool = flag(False, "never evaluate", _BATCH, kind=bool)
    seed: int = flag(42, "random seed (0 to 2**64 - 1)", _BATCH, kind=seed_type())

    # optimizer and schedule
    optimizer: str = flag(
        "adamw", f"one of {', '.join(OPTIMIZERS)}: torch AdamW with global-norm clipping and no "
        "decay on biases/LayerNorm, or the original BERT-Adam (no bias correction, eps 1e-6, "
        "per-tensor clipping, decays every tensor)", _OPTIM)
    learning_rate: float = flag(1e-5, "base learning rate", _OPTIM, kind=float)
    lr_schedule: str = flag("noam", f"one of {', '.join(SCHEDULES)} (formulas: "
                            "docs/spec/training.md section 4)", _OPTIM)
    warmup_steps: int = flag(16_000, "warm-up steps of the noam/noamwd schedules", _OPTIM,
                             kind=int)
    warmup_proportion: float = flag(
        0.1, "warm-up fraction of --num_optim_steps for the BERT schedule", _OPTIM, kind=float)
    weight_decay: float = flag(0.01, "decoupled weight decay", _OPTIM, kind=float)
    max_grad_norm: float = flag(1.0, "gradient clipping threshold (0 disables)", _OPTIM,
                                kind=float)

    # precision and speed
    precision: str | None = flag(
        None, "autocast precision; default: fp16 on CUDA when --fp16 is true (the original's "
        "default), fp32 on CPU", _PRECISION, choices=PRECISIONS)
    fp16: bool | None = flag(
        None, "original flag: true means --precision fp16 on CUDA (refused on CPU: use "
        "--precision bf16); unset means true on CUDA", _PRECISION, kind=bool)
    loss_scale: float = flag(
        0, "fp16 loss scale: 0 = dynamic, else a fixed initial scale that never grows",
        _PRECISION, kind=float)
    grad_checkpointing: bool = flag(
        False, "recompute activations in backward to save memory", _PRECISION, kind=bool)
    compile: bool = flag(False, "torch.compile the model (slow start-up)", _PRECISION,
                         kind=bool)
    device: str = flag("auto", "auto = CUDA when available", _PRECISION, choices=DEVICES)
    max_nonfinite_steps: int = flag(
        10, "stop after this many consecutive steps with a non-finite loss or gradient (each is "
        "skipped)", _PRECISION, kind=int)

    # output and resume
    output_dir: str | None = flag(
        None, "where checkpoints and logs go (created; the original added a timestamped "
        "sub-directory, we do not, so --resume auto finds runs)", _OUTPUT)
    log_dir: str | None = flag(None, "logs go here instead of --output_dir", _OUTPUT)
    resume: str | None = flag(
        None, "continue exactly from a checkpoint directory, the newest complete one in a run "
        "directory, or (auto) the newest in --output_dir if any", _OUTPUT, metavar="DIR|auto")
    continue_from: int = flag(
        0, "original flag: resume from checkpoint-step-N in --output_dir (now with optimizer, "
        "data position and RNG; 0 = start fresh)", _OUTPUT, kind=int)
    pbar: bool = flag(True, "show a progress bar", _OUTPUT, kind=bool)
    tensorboard: bool = flag(
        False, "also write the rows of train_log.jsonl/eval_log.jsonl as TensorBoard scalars to "
        "OUTPUT_DIR/tensorboard (view: tensorboard --logdir OUTPUT_DIR/tensorboard)", _OUTPUT,
        kind=bool)

    # LoRA
    lora_r: int = flag(
        0, "rank of the LoRA adapters; 0 trains every weight (full fine-tuning). With R > 0 only "
        "the adapters train, and a checkpoint holds the merged weights plus adapter/ in PEFT's "
        "format", _LORA, kind=int, metavar="R")
    lora_alpha: float | None = flag(
        None, "LoRA scaling numerator: the update is (alpha / r) B A; default 2 x --lora_r",
        _LORA, kind=float, metavar="A")
    lora_dropout: float = flag(0.05, "dropout on the adapters' input", _LORA, kind=float,
                               metavar="D")
    lora_target_modules: list[str] | None = flag(None, TARGETS_HELP, _LORA, metavar="M",
                                                 nargs="+")

    # distributed
    local_rank: int = flag(
        -1, "set by torch.distributed.launch; torchrun's LOCAL_RANK is read too", _DIST,
        kind=int, aliases=("--local-rank",))

    # ------------------------------------------------------------------ derived values
    @property
    def micro_batch_size(self) -> int:
        """Examples per forward pass on one process."""
        return self.train_batch_size // self.gradient_accumulation_steps

    @property
    def save_every(self) -> int:
        return self.save_step or self.valid_step

    @property
    def lora(self) -> LoraSettings | None:
        """The LoRA flags, or ``None`` for full fine-tuning."""
        if not self.lora_r:
            return None
        return LoraSettings(self.lora_r, self.lora_alpha, self.lora_dropout,
                            tuple(self.lora_target_modules or ()) or None)

    def to_json(self) -> dict[str, Any]:
        """The flags as a JSON object (saved in checkpoints)."""
        return dataclasses.asdict(self)

    def ignored_flags(self) -> list[str]:
        """Flags given but overridden by others, each with what overrides it (warned at start)."""
        ignored = []
        if self.precision is not None and self.fp16 is not None:
            ignored.append(f"--fp16 {str(self.fp16).lower()} (--precision {self.precision} "
                           "decides)")
        if self.skip_eval and self.eval_at_start:
            ignored.append("--eval_at_start (--skip_eval never evaluates)")
        if self.skip_eval and self.eval_input_file:
            ignored.append(f"--eval_input_file {self.eval_input_file} (--skip_eval never "
                           "evaluates)")
        return ignored

    # ------------------------------------------------------------------ validation
    def validate(self) -> None:
        """Every check that needs no files: raise ``UserError`` naming the flag and the fix."""
        for name in ("model_name_or_path", "train_input_file", "output_dir"):
            if not getattr(self, name):
                raise UserError(f"--{name} is required")
        if not self.skip_eval and not self.eval_input_file:
            raise UserError("--eval_input_file is required (or pass --skip_eval)")
        self._require_positive("train_batch_size", "gradient_accumulation_steps",
                               "eval_batch_size", "num_optim_steps", "valid_step",
                               "max_seq_length", "max_nonfinite_steps")
        if self.save_step is not None:
            self._require_positive("save_step")
        if self.train_batch_size % self.gradient_accumulation_steps:
            raise UserError(f"--train_batch_size {self.train_batch_size} is not divisible by "
                            f"--gradient_accumulation_steps {self.gradient_accumulation_steps}; "
                            "the micro-batch is their quotient, pick values that divide")
        self._require_choice("lr_schedule", SCHEDULES)
        self._require_choice("optimizer", OPTIMIZERS)
        if self.precision is not None:
            self._require_choice("precision", PRECISIONS)
        if self.lr_schedule in ("noam", "noamwd") and self.warmup_steps < 1:
            raise UserError(f"--warmup_steps must be >= 1 for the {self.lr_schedule} schedule")
        if self.lr_schedule == "BERT" and not 0.0 <= self.warmup_proportion < 1.0:
            raise UserError("--warmup_proportion must be in [0, 1) for the BERT schedule (0: "
                            "linear decay from the first step, GODEL's schedule)")
        if self.num_train_epochs is not None and not self.num_train_epochs > 0:
            raise UserError(f"--num_train_epochs must be > 0, got {self.num_train_epochs}")
        self._validate_lora()
        if self.learning_rate < 0 or self.weight_decay < 0 or self.max_grad_norm < 0:
            raise UserError("--learning_rate, --weight_decay and --max_grad_norm must be >= 0")
        if self.loss_scale < 0:
            raise UserError("--loss_scale must be 0 (dynamic) or a positive fixed scale")
        if self.num_workers < 0:
            raise UserError("--num_workers must be >= 0")
        if not self.no_token_id:
            raise UserError("--no_token_id false is not supported: token type ids are not stored "
                            "in the DB (the original's default, true, never used them either)")
        if self.continue_from and self.resume:
            raise UserError("pass either --continue_from N or --resume, not both")
        if self.continue_from < 0:
            raise UserError("--continue_from must be >= 0")
        check_seed(self.seed)  # a --config value is not parsed by the flag's type
        if self.tensorboard:  # at start-up, not once the model has loaded
            from dialogpt.extras import check_installed

            check_installed("tensorboard", "--tensorboard", " (or run without --tensorboard)")

    def _validate_lora(self) -> None:
        if self.lora_r < 0:
            raise UserError(f"--lora_r must be >= 0 (0: no LoRA), got {self.lora_r}")
        if not self.lora_r:
            return
        if self.lora_alpha is not None and not self.lora_alpha > 0:
            raise UserError(f"--lora_alpha must be > 0, got {self.lora_alpha}")
        if not 0.0 <= self.lora_dropout < 1.0:
            raise UserError(f"--lora_dropout must be in [0, 1), got {self.lora_dropout}")
        modules = self.lora_target_modules or []
        if "all-linear" in modules and len(modules) > 1:
            raise UserError("--lora_target_modules all-linear stands alone; drop the other names")
        import importlib.util

        if importlib.util.find_spec("peft") is None:
            raise UserError(f"--lora_r {self.lora_r}: {INSTALL_HINT}")

    def _require_positive(self, *names: str) -> None:
        for name in names:
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise UserError(f"--{name} must be a positive integer, got {value!r}")

    def _require_choice(self, name: str, choices: Sequence[str]) -> None:
        value = getattr(self, name)
        if value not in choices:
            raise UserError(f"unknown --{name} {value!r}; choose one of {', '.join(choices)}")


def build_parser() -> argparse.ArgumentParser:
    """The ``LSP_train.py`` parser: one flag per ``TrainConfig`` field, in field order."""
    return add_flags(make_parser("LSP_train.py", DESCRIPTION), TrainConfig)


def parse_args(argv: Sequence[str] | None = None) -> TrainConfig:
    """Parse flags (after applying ``--config`` defaults) into a validated ``TrainConfig``."""
    return parse_config(TrainConfig, build_parser(), argv, defaults_flag="config")
