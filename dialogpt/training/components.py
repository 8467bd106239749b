"""Building what the training loop needs, with every check that can fail done up front.

Each function raises ``UserError`` naming the file or flag at fault, before any step is taken:
a missing or corrupt DB, a DB of the other model kind (causal vs seq2seq), a DB whose tokenizer
differs from the model's vocabulary, a model trained with another source template, a
``--max_seq_length`` beyond the model's positions, a DB too small for one optimizer step.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dialogpt.cli import UserError

if TYPE_CHECKING:
    from dialogpt.training.args import TrainConfig

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class BatchPlan:
    """How examples flow into one optimizer step."""

    world_size: int
    micro_batch: int
    accumulation: int
    max_seq_length: int
    steps_per_epoch: int
    examples_used: int = 0
    """Examples of the DB within ``max_seq_length`` (the rest are left out)."""
    examples_left_out: int = 0

    @property
    def examples_per_step(self) -> int:
        return self.micro_batch * self.accumulation * self.world_size

    @property
    def max_tokens_per_step(self) -> int:
        return self.examples_per_step * self.max_seq_length


def open_train_db(path: str, verify: bool):
    """The token DB at ``path``, causal or seq2seq (``UserError`` if missing or corrupt)."""
    from dialogpt.data.db_open import open_db

    return open_db(path, verify=verify)


def load_training_tokenizer(tokenizer: str | None, model_name_or_path: str,
                            manifest: dict[str, Any]):
    """--tokenizer, else the model directory's own tokenizer, else the DB's recorded one."""
    from dialogpt.tokenization import has_tokenizer_files, load_tokenizer

    if tokenizer:
        return load_tokenizer(tokenizer)
    if has_tokenizer_files(model_name_or_path):
        return load_tokenizer(model_name_or_path)
    return load_tokenizer(manifest.get("tokenizer"))


def check_db_matches(db_path: str, db_kind: str, manifest: dict[str, Any], tokenizer,
                     model_config, max_seq_length: int) -> None:
    """The DB must hold the model's kind of examples, be tokenized like its vocabulary, and fit
    its positions."""
    from dialogpt.modeling import is_seq2seq
    from dialogpt.tokenization import tokenizer_fingerprint

    model_kind = "seq2seq" if is_seq2seq(model_config) else "causal"
    if db_kind != model_kind:
        raise UserError(f"token DB {db_path} holds {KIND_NAMES[db_kind]} examples, but the model "
                        f"({model_config.model_type}) is {KIND_NAMES[model_kind]}; build the DB "
                        f"from {KIND_INPUTS[model_kind]} with prepro.py, or train a "
                        f"{KIND_MODELS[db_kind]} model")
    recorded = manifest.get("tokenizer_fingerprint")
    ours = tokenizer_fingerprint(tokenizer)
    if recorded and recorded != ours:
        raise UserError(f"token DB {db_path} was built with tokenizer "
                        f"{manifest.get('tokenizer')!r} (fingerprint {recorded}), but training "
                        f"uses one with fingerprint {ours}; rebuild the DB with prepro.py "
                        "--tokenizer matching the model, or pass --tokenizer")
    db_vocab = int(manifest.get("vocab_size", 0))
    if db_vocab > model_config.vocab_size:
        raise UserError(f"token DB {db_path} has a vocabulary of {db_vocab} tokens, the model only "
                        f"{model_config.vocab_size}; use a model with the DB's vocabulary")
    key = next((key for key in ("n_positions", "max_position_embeddings")
                if getattr(model_config, key, None)), None)   # T5's positions are relative
    longest = max(max_seq_length, int(manifest.get("max_target_len", 0)))
    if key and longest > getattr(model_config, key):
        raise UserError(f"--max_seq_length {max_seq_length} (or the DB's max_target_len) exceeds "
                        f"the model's {key}={getattr(model_config, key)}; lower "
                        "--max_seq_length")


def check_resume_matches(how: str, resume_dir: Path, db_path: str, db_kind: str,
                         model_config) -> None:
    """A checkpoint chosen by ``--resume``/``--continue_from`` (``how``) must be of the DB's
    kind: else say which checkpoint was chosen and why it does not fit (not the model flag)."""
    from dialogpt.modeling import is_seq2seq

    kind = "seq2seq" if is_seq2seq(model_config) else "causal"
    if kind != db_kind:
        raise UserError(f"{how} chose {resume_dir}, a {KIND_NAMES[kind]} checkpoint "
                        f"({model_config.model_type}), but token DB {db_path} holds "
                        f"{KIND_NAMES[db_kind]} examples: that output folder holds another "
                        "kind of run. Pass a new --output_dir to start this one, or the DB "
                        "that run was trained on")


KIND_NAMES = {"causal": "causal (DialoGPT TSV)", "seq2seq": "seq2seq (GODEL)"}
KIND_INPUTS = {"causal": "a context<TAB>response TSV", "seq2seq": "GODEL JSONL"}
KIND_MODELS = {"causal": "GPT-2 (causal)", "seq2seq": "T5/BART (encoder-decoder)"}
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


def model_width(model_config) -> int:
    """The hidden size the noam schedules scale by (GPT-2's n_embd, T5/BART's d_model)."""
    return getattr(model_config, "n_embd", None) or model_config.d_model


def model_config_of(source: str | Path):
    """The config of the model at ``source``, read without building the model."""
    from transformers import AutoConfig

    from dialogpt.modeling import has_weights, read_model_config

    source = Path(source)
    if has_weights(source):
        return AutoConfig.from_pretrained(str(source))
    if source.is_file() or (source.is_dir() and (source / "config.json").exists()):
        return read_model_config(source)
    from dialogpt.hub import check_hub_id, offline_error

    offline = check_hub_id(str(source), "model")  # no network: fail at once, say what to do
    try:
        return AutoConfig.from_pretrained(str(source))
    except Exception as exc:  # hub and network errors come in many types
        if offline:
            raise offline_error(str(source), "model", offline) from None
        raise UserError(f"could not load the model config of {str(source)!r}: not a local "
                        f"directory, and the Hugging Face Hub failed ({type(exc).__name__}). "
                        "Pass a local directory or a shipped config such as configs/117M or "
                        "configs/t5-tiny.") from exc


def build_model(model_name_or_path: str, init_checkpoint: str | None, resume_dir: Path | None):
    """The model: from the checkpoint when resuming, else --model_name_or_path/--init_checkpoint."""
    from dialogpt.modeling import load_model

    if resume_dir is not None:
        return load_model(resume_dir)
    return load_model(model_name_or_path, init_checkpoint)


def enable_activation_checkpointing(model) -> None:
    """Recompute each block's activations in backward (``--grad_checkpointing``).

    transformers 5 renamed ``gradient_checkpointing_enable``; both spellings are supported.
    """
    kwargs = {"use_reentrant": False}
    if hasattr(model, "activation_checkpointing_enable"):
        model.activation_checkpointing_enable(activation_checkpointing_kwargs=kwargs)
    else:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)


def length_limit(max_seq_length: int, db) -> int:
    """The longest training example: ``--max_seq_length`` for a causal DB; for a seq2seq DB the
    source limit prepro.py already fitted every source to (cutting turns and knowledge, counted),
    so no example is dropped for a flag left at its DialoGPT default."""
    if db.kind != "seq2seq":
        return max_seq_length
    if max_seq_length != db.max_source_len:
        logger.info("--max_seq_length %d does not apply to a seq2seq DB: its sources were fitted "
                    "to max_source_len=%d by prepro.py (rebuild it with another --max_source_len "
                    "to change that)", max_seq_length, db.max_source_len)
    return db.max_source_len


def build_train_loader(db, micro_batch: int, max_seq_length: int, seed: int, rank: int,
                       world_size: int):
    from dialogpt.data.loader import BucketingDataLoader

    return BucketingDataLoader(db, micro_batch, max_seq_len=max_seq_length, shuffle=True,
                               seed=seed, rank=rank, world_size=world_size)


def build_eval_loader(config: TrainConfig, tokenizer, db):
    """The evaluation loader of the DB's kind: a TSV for causal, GODEL JSONL for seq2seq (read
    with the DB's template, instruction and limits)."""
    from dialogpt.data.loader import DynamicBatchingLoader, GroundedEvalLoader

    path = Path(config.eval_input_file)
    expected = KIND_INPUTS[db.kind]
    if not path.is_file():
        raise UserError(f"--eval_input_file {path} does not exist ({expected})")
    is_jsonl = path.suffix.lower() in (".jsonl", ".json")
    if is_jsonl != (db.kind == "seq2seq"):
        raise UserError(f"--eval_input_file {path}: a {KIND_NAMES[db.kind]} run evaluates on "
                        f"{expected} (.{'jsonl' if db.kind == 'seq2seq' else 'tsv'}), like its "
                        f"train DB {db.path}")
    if db.kind == "seq2seq":
        return GroundedEvalLoader.for_db(path, tokenizer, config.eval_batch_size, db)
    if not config.normalize_data:
        logger.warning("--normalize_data false is ignored: evaluation lines are parsed like "
                       "prepro.py, whitespace normalised")
    reverse = bool(db.manifest.get("reverse"))  # a backward (MMI) model: evaluate it reversed too
    if reverse:
        logger.info("eval: the train DB is prepro.py --reverse data, so each line of %s is "
                    "reversed the same way (the oldest turn predicted from the later ones)", path)
    return DynamicBatchingLoader(path, tokenizer, config.eval_batch_size, config.max_seq_length,
                                 reverse=reverse)


def make_plan(config: TrainConfig, world_size: int, loader) -> BatchPlan:
    accumulation = config.gradient_accumulation_steps
    steps = len(loader) // accumulation
    if steps < 1:
        raise UserError(f"token DB {config.train_input_file} is too small for one optimizer "
                        f"step: {len(loader)} micro-batches of {config.micro_batch_size} per "
                        f"process, {accumulation} needed; lower --train_batch_size")
    return BatchPlan(world_size=world_size, micro_batch=config.micro_batch_size,
                     accumulation=accumulation, max_seq_length=loader.max_seq_len,
                     steps_per_epoch=steps, examples_used=len(loader.example_ids),
                     examples_left_out=loader.n_left_out)


def with_epochs(config: TrainConfig, plan: BatchPlan) -> TrainConfig:
    """``config`` with ``--num_optim_steps`` set from ``--num_train_epochs`` and the plan's
    optimizer steps per epoch (rounded up: the last epoch is never cut short)."""
    import dataclasses
    import math

    steps = max(1, math.ceil(config.num_train_epochs * plan.steps_per_epoch))
    return dataclasses.replace(config, num_optim_steps=steps)


def wrap_for_ddp(module, ctx):
    """``module`` inside ``DistributedDataParallel`` when several processes train, else itself."""
    if not ctx.distributed:
        return module
    from torch.nn.parallel import DistributedDataParallel

    device_ids = [ctx.local_rank] if ctx.device.type == "cuda" else None
    return DistributedDataParallel(module, device_ids=device_ids, gradient_as_bucket_view=True)


def build_grad_scaler(device_type: str, precision: str, loss_scale: float):
    """fp16's loss scaler (dynamic, or fixed at ``loss_scale``); a disabled no-op otherwise."""
    import torch

    return torch.amp.GradScaler(device_type, enabled=precision == "fp16",
                                init_scale=loss_scale or 2.0 ** 16,
                                growth_interval=2 ** 31 - 1 if loss_scale else 2000)


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
