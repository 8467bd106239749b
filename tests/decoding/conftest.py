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


def save_tiny_t5(directory: Path, tokenizer_dir: Path, seed: int = 1,
                 grounding: dict | None = None) -> Path:
    """``configs/t5-tiny`` with the tokenizer's vocabulary size (rounded up to 64) and a large
    initializer (varied greedy output from random weights), saved with the tokenizer (the shared
    ``t5_tokenizer_dir``) and an optional ``grounding.json``.

    Random weights never choose EOS; so EOS's output row copies (x1.05) the row of a token that
    greedy decoding picks now and then, and some responses end early.
    """
    import json

    import torch
    from transformers import T5ForConditionalGeneration

    from dialogpt.modeling import read_model_config
    from dialogpt.tokenization import load_tokenizer

    config = read_model_config(Path(__file__).resolve().parents[2] / "configs" / "t5-tiny")
    tokenizer = load_tokenizer(tokenizer_dir)
    config.vocab_size = -(-len(tokenizer) // 64) * 64
    config.initializer_factor = 20.0
    torch.manual_seed(seed)
    model = T5ForConditionalGeneration(config).eval()
    probe = tokenizer([f"[CONTEXT] what is the {word} ? [KNOWLEDGE] the {word} is red"
                       for word in ("cat", "boat", "tree", "river", "bird", "lamp")],
                      padding=True, return_tensors="pt")
    with torch.no_grad():
        picked = model.generate(**probe, max_new_tokens=8, do_sample=False)[:, 3:].flatten()
        common = torch.bincount(picked[picked > 2]).argmax()
        model.lm_head.weight[1] = model.lm_head.weight[common] * 1.05
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    if grounding is not None:
        (directory / "grounding.json").write_text(json.dumps(grounding), encoding="utf-8")
    return directory


@pytest.fixture(scope="session")
def tiny_t5_dir(tmp_path_factory, t5_tokenizer_dir) -> Path:
    """A random tiny T5 that records no template (like a Hub GODEL model)."""
    return save_tiny_t5(tmp_path_factory.mktemp("tiny_t5"), t5_tokenizer_dir)


@pytest.fixture(scope="session")
def tiny_t5_repo_dir(tmp_path_factory, t5_tokenizer_dir) -> Path:
    """The same random T5, recorded as trained with the ``repo`` template."""
    return save_tiny_t5(tmp_path_factory.mktemp("tiny_t5_repo"), t5_tokenizer_dir,
                        grounding={"kind": "seq2seq", "template": "repo",
                                   "max_source_len": 64, "max_target_len": 32})
