"""Tiny GPT-2 models saved as ``--model`` directories (real GPT-2 vocabulary, offline tokenizer)."""

from __future__ import annotations

from pathlib import Path

import pytest

TINY_POSITIONS = 64


def save_tiny_model(directory: Path, seed: int, n_positions: int = TINY_POSITIONS) -> Path:
    """A 2-layer, 32-wide GPT-2 with the real vocabulary, plus the tokenizer, in ``directory``.

    ``initializer_range`` is large so that random greedy continuations are varied (with the default
    0.02 a random model repeats one token forever, which would hide batching bugs).
    """
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    from dialogpt.tokenization import load_tokenizer

    torch.manual_seed(seed)
    config = GPT2Config(n_embd=32, n_layer=2, n_head=2, n_positions=n_positions,
                        initializer_range=0.3)
    GPT2LMHeadModel(config).save_pretrained(directory)
    load_tokenizer().save_pretrained(directory)
    return directory


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
