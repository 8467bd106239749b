"""Fixtures for the training tests: a small dialogue corpus, its token DB, tiny model configs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from training_helpers import build_db, write_corpus


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
def tiny_config_no_dropout(repo_root, tmp_path_factory) -> Path:
    """configs/tiny with dropout off: runs split differently over processes then agree exactly."""
    config = json.loads((repo_root / "configs" / "tiny" / "config.json").read_text())
    config.update(resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)
    path = tmp_path_factory.mktemp("config") / "config.json"
    path.write_text(json.dumps(config))
    return path
