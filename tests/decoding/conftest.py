"""Tiny GPT-2 models saved as ``--model`` directories (real GPT-2 vocabulary, offline tokenizer)."""

from __future__ import annotations

from pathlib import Path

import pytest
from tiny_models import save_tiny_gpt2 as save_tiny_model
from tiny_models import save_tiny_t5

@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    return save_tiny_model(tmp_path_factory.mktemp("tiny_forward"), seed=1)


@pytest.fixture(scope="session")
def tokenizer():
    from dialogpt.tokenization import load_tokenizer

    return load_tokenizer()


@pytest.fixture(scope="session")
def tiny_model(tiny_model_dir):
    from dialogpt.modeling import load_model

    return load_model(tiny_model_dir).eval()


@pytest.fixture(scope="session")
def tiny_t5_dir(tmp_path_factory, t5_tokenizer_dir) -> Path:
    """A random tiny T5 that records no template (like a Hub GODEL model)."""
    return save_tiny_t5(tmp_path_factory.mktemp("tiny_t5"), t5_tokenizer_dir, ends_early=True)


@pytest.fixture(scope="session")
def tiny_t5_repo_dir(tmp_path_factory, t5_tokenizer_dir) -> Path:
    """The same random T5, recorded as trained with the ``repo`` template."""
    return save_tiny_t5(tmp_path_factory.mktemp("tiny_t5_repo"), t5_tokenizer_dir,
                        ends_early=True,
                        grounding={"kind": "seq2seq", "template": "repo",
                                   "max_source_len": 64, "max_target_len": 32})
