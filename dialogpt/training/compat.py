"""Does the token DB fit the model (and the checkpoint a resume chose)? Checked before any step.

Each check raises ``UserError`` naming the file or flag at fault: a DB of the other model kind
(causal vs seq2seq), a DB whose tokenizer differs from the model's vocabulary, a
``--max_seq_length`` beyond the model's positions, a checkpoint of another kind of run, a GODEL
model trained with another source template (``dialogpt.grounding``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from dialogpt import grounding
from dialogpt.cli import UserError

if TYPE_CHECKING:
    from dialogpt.training.args import TrainConfig

KIND_NAMES = {"causal": "causal (DialoGPT TSV)", "seq2seq": "seq2seq (GODEL)"}
KIND_INPUTS = {"causal": "a context<TAB>response TSV", "seq2seq": "GODEL JSONL"}
KIND_MODELS = {"causal": "GPT-2 (causal)", "seq2seq": "T5/BART (encoder-decoder)"}


def check_run_fits(config: TrainConfig, db, tokenizer, model_config, max_seq_length: int,
                   resume_dir: Path | None) -> None:
    """Every check of a run's inputs against each other: the checkpoint a resume chose against
    the DB, the DB against the model, a seq2seq DB's source template against the models the run
    starts from."""
    if resume_dir is not None:
        how = (f"--resume {config.resume}" if config.resume
               else f"--continue_from {config.continue_from}")
        check_resume_matches(how, resume_dir, config.train_input_file, db.kind, model_config)
    check_db_matches(config.train_input_file, db.kind, db.manifest, tokenizer, model_config,
                     max_seq_length)
    if db.kind == "seq2seq":
        grounding.check_grounding_matches(
            config.train_input_file, db.manifest,
            [resume_dir, config.model_name_or_path, config.init_checkpoint])


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
