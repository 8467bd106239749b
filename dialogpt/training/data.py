"""The run's data: its token DB and tokenizer, the train and eval loaders, the batch plan.

Each function raises ``UserError`` naming the file or flag at fault, before any step is taken: a
missing or corrupt DB, an eval file of the other kind, a DB too small for one optimizer step.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dialogpt.cli import UserError
from dialogpt.training.compat import KIND_INPUTS, KIND_NAMES

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


def eval_summary(loader) -> str | None:
    """The eval file's counts (a TSV loader reads them now: a file without a usable line fails
    here, before training); None for no loader or one without counts."""
    describe = getattr(loader, "describe", None)
    return describe() if describe else None


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
    optimizer steps per epoch (rounded up: the last epoch is never cut short); ``config`` itself
    without ``--num_train_epochs``."""
    import dataclasses
    import math

    if config.num_train_epochs is None:
        return config
    steps = max(1, math.ceil(config.num_train_epochs * plan.steps_per_epoch))
    return dataclasses.replace(config, num_optim_steps=steps)
