"""Fixtures for the training tests: small dialogue and grounded corpora, their token DBs, tiny
model configs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tiny_models import save_seeded_checkpoint
from training_helpers import build_db, build_seq2seq_db, write_corpus, write_grounded_jsonl


@pytest.fixture(scope="session")
def corpus(tmp_path_factory) -> dict[str, Path]:
    """``train`` (a 120-example DB), ``eval`` (a 12-line TSV), ``tiny8`` (an 8-example DB)."""
    root = tmp_path_factory.mktemp("corpus")
    return {
        "train": build_db(write_corpus(root / "train.tsv", 120, seed=1)),
        "eval": write_corpus(root / "valid.tsv", 12, seed=2),
        "tiny8": build_db(write_corpus(root / "eight.tsv", 8, seed=3)),
    }


@pytest.fixture(scope="session")
def tiny_config(repo_root) -> Path:
    return repo_root / "configs" / "tiny"


@pytest.fixture(scope="session")
def tiny_weights(repo_root, tmp_path_factory) -> Path:
    """configs/tiny as a model directory with our seeded weights (``tests/tiny_models.py``: seed
    7, N(0, 0.02^2)): the start of every run whose losses are pinned, so they never depend on
    transformers' initialisation."""
    return save_seeded_checkpoint(repo_root / "configs" / "tiny",
                                  tmp_path_factory.mktemp("tiny_weights"), seed=7)


@pytest.fixture(scope="session")
def t5_tiny_weights(repo_root, tmp_path_factory) -> Path:
    """configs/t5-tiny as a model directory with our seeded weights (seed 7, N(0, 0.02^2), the
    shared embedding N(0, 1) as T5's own), no tokenizer (runs take the token DB's)."""
    return save_seeded_checkpoint(repo_root / "configs" / "t5-tiny",
                                  tmp_path_factory.mktemp("t5_tiny_weights"), seed=7,
                                  embedding_std=1.0)


@pytest.fixture(scope="session")
def tiny_config_no_dropout(repo_root, tmp_path_factory) -> Path:
    """configs/tiny with dropout off: runs split differently over processes then agree exactly."""
    config = json.loads((repo_root / "configs" / "tiny" / "config.json").read_text())
    config.update(resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)
    path = tmp_path_factory.mktemp("config") / "config.json"
    path.write_text(json.dumps(config))
    return path


@pytest.fixture(scope="session")
def grounded(tmp_path_factory, t5_tokenizer_dir) -> dict[str, Path]:
    """GODEL data with the offline T5 tokenizer: ``train`` (a 64-record seq2seq DB, card
    template), ``repo`` (the same records, repo template), ``tiny8`` (8 records), ``eval`` (a
    12-record JSONL)."""
    root = tmp_path_factory.mktemp("grounded")
    train = write_grounded_jsonl(root / "train.jsonl", 64, seed=1)
    return {
        "train": build_seq2seq_db(train, t5_tokenizer_dir, "train"),
        "repo": build_seq2seq_db(train, t5_tokenizer_dir, "train-repo", "--template", "repo"),
        "tiny8": build_seq2seq_db(write_grounded_jsonl(root / "eight.jsonl", 8, seed=3),
                                  t5_tokenizer_dir, "eight"),
        "eval": write_grounded_jsonl(root / "valid.jsonl", 12, seed=2),
    }


@pytest.fixture(scope="session")
def t5_tiny_no_dropout(repo_root, tmp_path_factory) -> Path:
    """configs/t5-tiny with dropout off (for runs split differently over processes)."""
    config = json.loads((repo_root / "configs" / "t5-tiny" / "config.json").read_text())
    config.update(dropout_rate=0.0)
    path = tmp_path_factory.mktemp("t5config") / "config.json"
    path.write_text(json.dumps(config))
    return path
