"""Command line of ``LSP_train.py``: the original flags, the modern ones, and their validation.

Every original flag keeps its name, type, default and meaning (``--train_batch_size`` is the number
of examples per optimizer step on each process; the micro-batch is that divided by
``--gradient_accumulation_steps``). ``--config FILE.json`` supplies defaults; flags given on the
command line win. Validation that needs no files happens here, before anything heavy is loaded.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Sequence

from dialogpt.cli import UserError, add_bool_flag, make_parser
from dialogpt.training.schedules import SCHEDULES

PRECISIONS = ("fp32", "fp16", "bf16")
OPTIMIZERS = ("adamw", "original")
DEVICES = ("auto", "cpu", "cuda")

DESCRIPTION = """\
Train a GPT-2 dialogue model on a token DB built by prepro.py (DialoGPT's LSP_train.py).

Runs on one process (python LSP_train.py ...) or many: torchrun --nproc_per_node=N LSP_train.py ...
(multi-node with --nnodes and a rendezvous endpoint), or python -m torch.distributed.launch.
Gradients are averaged over the labelled tokens of every micro-batch on every process, so an
update does not depend on how the batch is split (the original summed them).

Writes into --output_dir: train_log.txt / eval_log.txt (the original columns), train_log.jsonl /
eval_log.jsonl (plus learning rate, tokens/s, wall time), and checkpoint-step-N/ directories that
AutoModelForCausalLM/AutoTokenizer.from_pretrained load and that --resume continues exactly.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = make_parser("LSP_train.py", DESCRIPTION)
    parser.add_argument("--config", default=None, metavar="FILE.json",
                        help="JSON object of flag defaults (keys are flag names without dashes); "
                             "flags given on the command line override it")

    model = parser.add_argument_group("model and data")
    model.add_argument("--model_name_or_path", default=None,
                       help="HF model directory, shipped config (configs/117M, a config .json) for "
                            "training from scratch, or Hugging Face Hub id")
    model.add_argument("--init_checkpoint", default=None,
                       help="weights to start from: original DialoGPT .pkl, .safetensors, .bin or "
                            "HF directory")
    model.add_argument("--tokenizer", default=None,
                       help="tokenizer to save with checkpoints; default: the model directory's "
                            "own, else the one the train DB was built with")
    model.add_argument("--train_input_file", default=None, help="token DB directory from prepro.py")
    model.add_argument("--eval_input_file", default=None,
                       help="TSV (context<TAB>response) for the validation loss")
    model.add_argument("--max_seq_length", type=int, default=128,
                       help="longest example in tokens; longer DB examples are skipped")
    add_bool_flag(model, "--normalize_data", True,
                  "original flag, kept for old commands: eval lines are always parsed like "
                  "prepro.py (whitespace normalised)")
    add_bool_flag(model, "--no_token_id", True,
                  "do not use token type ids (they are not stored; only true is supported)")
    model.add_argument("--num_workers", type=int, default=0,
                       help="0: collate batches in the training thread; N > 0: a background "
                            "thread prepares up to 2N batches ahead")

    batch = parser.add_argument_group("batches and steps")
    batch.add_argument("--train_batch_size", type=int, default=4,
                       help="examples per optimizer step on each process (must be divisible by "
                            "--gradient_accumulation_steps)")
    batch.add_argument("--gradient_accumulation_steps", type=int, default=2,
                       help="micro-batches per optimizer step")
    batch.add_argument("--eval_batch_size", type=int, default=4, help="examples per eval batch")
    batch.add_argument("--num_optim_steps", type=int, default=1_000_000,
                       help="optimizer steps to train for (counted from step 0, also on resume)")
    batch.add_argument("--valid_step", type=int, default=10_000,
                       help="evaluate every this many optimizer steps")
    batch.add_argument("--save_step", type=int, default=None,
                       help="save a checkpoint every this many optimizer steps (default: "
                            "--valid_step); one is always saved at the end")
    add_bool_flag(batch, "--eval_at_start", False, "evaluate before the first step")
    add_bool_flag(batch, "--skip_eval", False, "never evaluate")
    batch.add_argument("--seed", type=int, default=42, help="random seed")

    optim = parser.add_argument_group("optimizer and schedule")
    optim.add_argument("--optimizer", default="adamw",
                       help=f"one of {', '.join(OPTIMIZERS)}: torch AdamW with global-norm "
                            "clipping and no decay on biases/LayerNorm, or the original BERT-Adam "
                            "(no bias correction, eps 1e-6, per-tensor clipping, decays every "
                            "tensor)")
    optim.add_argument("--learning_rate", type=float, default=1e-5, help="base learning rate")
    optim.add_argument("--lr_schedule", default="noam",
                       help=f"one of {', '.join(SCHEDULES)} (see docs/spec)")
    optim.add_argument("--warmup_steps", type=int, default=16_000,
                       help="warm-up steps of the noam/noamwd schedules")
    optim.add_argument("--warmup_proportion", type=float, default=0.1,
                       help="warm-up fraction of --num_optim_steps for the BERT schedule")
    optim.add_argument("--weight_decay", type=float, default=0.01, help="decoupled weight decay")
    optim.add_argument("--max_grad_norm", type=float, default=1.0,
                       help="gradient clipping threshold (0 disables)")

    precision = parser.add_argument_group("precision and speed")
    precision.add_argument("--precision", default=None, choices=PRECISIONS,
                           help="autocast precision; default: fp16 on CUDA when --fp16 is true "
                                "(the original's default), fp32 on CPU")
    add_bool_flag(precision, "--fp16", None,
                  "original flag: true means --precision fp16 on CUDA (refused on CPU: use "
                  "--precision bf16); unset means true on CUDA")
    precision.add_argument("--loss_scale", type=float, default=0,
                           help="fp16 loss scale: 0 = dynamic, else a fixed initial scale that "
                                "never grows")
    add_bool_flag(precision, "--grad_checkpointing", False,
                  "recompute activations in backward to save memory")
    add_bool_flag(precision, "--compile", False, "torch.compile the model (slow start-up)")
    precision.add_argument("--device", default="auto", choices=DEVICES,
                           help="auto = CUDA when available")
    precision.add_argument("--max_nonfinite_steps", type=int, default=10,
                           help="stop after this many consecutive steps with a non-finite loss or "
                                "gradient (each is skipped)")

    output = parser.add_argument_group("output and resume")
    output.add_argument("--output_dir", default=None,
                        help="where checkpoints and logs go (created; the original added a "
                             "timestamped sub-directory, we do not, so --resume auto finds runs)")
    output.add_argument("--log_dir", default=None, help="logs go here instead of --output_dir")
    output.add_argument("--resume", default=None, metavar="DIR|auto",
                        help="continue exactly from a checkpoint directory, the newest complete "
                             "one in a run directory, or (auto) the newest in --output_dir if any")
    output.add_argument("--continue_from", type=int, default=0,
                        help="original flag: resume from checkpoint-step-N in --output_dir "
                             "(now with optimizer, data position and RNG; 0 = start fresh)")
    add_bool_flag(output, "--pbar", True, "show a progress bar")

    dist = parser.add_argument_group("distributed")
    dist.add_argument("--local_rank", "--local-rank", dest="local_rank", type=int, default=-1,
                      help="set by torch.distributed.launch; torchrun's LOCAL_RANK is read too")
    return parser


def _config_defaults(parser: argparse.ArgumentParser, path: str) -> dict:
    file = Path(path)
    try:
        values = json.loads(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UserError(f"cannot read --config {file}: {exc.strerror}") from exc
    except json.JSONDecodeError as exc:
        raise UserError(f"--config {file} line {exc.lineno}: invalid JSON ({exc.msg})") from exc
    if not isinstance(values, dict):
        raise UserError(f"--config {file} must hold a JSON object of flag values")
    known = {action.dest for action in parser._actions} - {"help", "config"}
    unknown = sorted(set(values) - known)
    if unknown:
        raise UserError(f"--config {file}: unknown keys {unknown}; keys are flag names without "
                        "dashes, e.g. \"train_batch_size\"")
    return values


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse flags (after applying ``--config`` defaults) and validate them."""
    parser = build_parser()
    first, _ = parser.parse_known_args(argv)
    if first.config:
        parser.set_defaults(**_config_defaults(parser, first.config))
    args = parser.parse_args(argv)
    validate_args(args)
    return args


def _require_positive(args: argparse.Namespace, *names: str) -> None:
    for name in names:
        value = getattr(args, name)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise UserError(f"--{name} must be a positive integer, got {value!r}")


def validate_args(args: argparse.Namespace) -> None:
    """Checks that need no files: raise ``UserError`` naming the flag and the fix."""
    for name in ("model_name_or_path", "train_input_file", "output_dir"):
        if not getattr(args, name):
            raise UserError(f"--{name} is required")
    if not args.skip_eval and not args.eval_input_file:
        raise UserError("--eval_input_file is required (or pass --skip_eval)")
    _require_positive(args, "train_batch_size", "gradient_accumulation_steps", "eval_batch_size",
                      "num_optim_steps", "valid_step", "max_seq_length", "max_nonfinite_steps")
    if args.save_step is not None:
        _require_positive(args, "save_step")
    if args.train_batch_size % args.gradient_accumulation_steps:
        raise UserError(f"--train_batch_size {args.train_batch_size} is not divisible by "
                        f"--gradient_accumulation_steps {args.gradient_accumulation_steps}; the "
                        "micro-batch is their quotient, pick values that divide")
    if args.lr_schedule not in SCHEDULES:
        raise UserError(f"unknown --lr_schedule {args.lr_schedule!r}; choose one of "
                        f"{', '.join(SCHEDULES)}")
    if args.optimizer not in OPTIMIZERS:
        raise UserError(f"unknown --optimizer {args.optimizer!r}; choose one of "
                        f"{', '.join(OPTIMIZERS)}")
    if args.precision is not None and args.precision not in PRECISIONS:
        raise UserError(f"unknown --precision {args.precision!r}; choose one of "
                        f"{', '.join(PRECISIONS)}")
    if args.lr_schedule in ("noam", "noamwd") and args.warmup_steps < 1:
        raise UserError(f"--warmup_steps must be >= 1 for the {args.lr_schedule} schedule")
    if args.lr_schedule == "BERT" and not 0.0 < args.warmup_proportion < 1.0:
        raise UserError("--warmup_proportion must be in (0, 1) for the BERT schedule")
    if args.learning_rate < 0 or args.weight_decay < 0 or args.max_grad_norm < 0:
        raise UserError("--learning_rate, --weight_decay and --max_grad_norm must be >= 0")
    if args.loss_scale < 0:
        raise UserError("--loss_scale must be 0 (dynamic) or a positive fixed scale")
    if args.num_workers < 0:
        raise UserError("--num_workers must be >= 0")
    if not args.no_token_id:
        raise UserError("--no_token_id false is not supported: token type ids are not stored in "
                        "the DB (the original's default, true, never used them either)")
    if args.continue_from and args.resume:
        raise UserError("pass either --continue_from N or --resume, not both")
    if args.continue_from < 0:
        raise UserError("--continue_from must be >= 0")


def resolve_precision(args: argparse.Namespace, device_type: str) -> str:
    """The autocast precision for ``device_type`` ('cpu' or 'cuda') from --precision / --fp16."""
    if args.precision is not None:
        wanted = args.precision
        source = f"--precision {wanted}"
    elif args.fp16 is None:
        return "fp16" if device_type == "cuda" else "fp32"
    else:
        wanted = "fp16" if args.fp16 else "fp32"
        source = f"--fp16 {str(args.fp16).lower()}"
    if wanted == "fp16" and device_type != "cuda":
        raise UserError(f"{source} needs a CUDA device; on CPU use --precision bf16 (fast with "
                        "AMX) or --precision fp32")
    return wanted
