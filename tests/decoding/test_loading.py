"""Building a ``Decoder`` from flags: tokenizer resolution, random-weight warning, bad setups."""

from __future__ import annotations

import logging

import pytest

from dialogpt.cli import UserError
from dialogpt.config import build_parser, parse_config
from dialogpt.decoding.decoder_config import DecoderConfig
from dialogpt.decoding.loading import resolve_tokenizer_source


def parse(*argv: str) -> DecoderConfig:
    return parse_config(DecoderConfig, build_parser(DecoderConfig, "test", ""), list(argv))


def load_decoder(config: DecoderConfig):
    return config.load()


def test_tokenizer_resolution(tiny_model_dir, repo_root, tmp_path):
    assert resolve_tokenizer_source(str(tiny_model_dir), None) == str(tiny_model_dir)
    assert resolve_tokenizer_source(str(repo_root / "configs" / "117M"), None) is None
    assert resolve_tokenizer_source(str(tmp_path), None) is None
    assert resolve_tokenizer_source("microsoft/DialoGPT-small", None) == "microsoft/DialoGPT-small"
    assert resolve_tokenizer_source(str(tiny_model_dir), "gpt2-bpe") == "gpt2-bpe"


def test_shipped_config_decodes_with_random_weights_and_says_so(repo_root, caplog):
    with caplog.at_level(logging.WARNING, logger="dialogpt"):
        decoder = load_decoder(parse("--model", str(repo_root / "configs" / "tiny"),
                                     "--max_length", "4", "--device", "cpu"))
    assert "RANDOM weights" in caplog.text
    assert decoder.context_budget == 256 - 4
    assert len(decoder.respond([["hello"]])[0].ids) == 4


def test_fp16_needs_cuda(tiny_model_dir, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(UserError, match="--fp16 needs a CUDA device"):
        load_decoder(parse("--model", str(tiny_model_dir), "--fp16", "--device", "auto"))
    with pytest.raises(UserError, match="CUDA is not available"):
        load_decoder(parse("--model", str(tiny_model_dir), "--device", "cuda"))


def test_model_vocabulary_must_cover_the_tokenizer(tmp_path):
    from transformers import GPT2Config, GPT2LMHeadModel

    GPT2LMHeadModel(GPT2Config(n_embd=8, n_layer=1, n_head=1, vocab_size=100)).save_pretrained(
        tmp_path)
    with pytest.raises(UserError, match="vocabulary"):
        load_decoder(parse("--model", str(tmp_path), "--device", "cpu"))


@pytest.mark.parametrize("hub_id", ["microsoft/GODEL-v1_1-base-seq2seq",
                                    "microsoft/GODEL-v1_1-large-seq2seq"])
def test_godel_hub_ids_fail_fast_offline(hub_offline, hub_id):
    with pytest.raises(UserError) as caught:
        load_decoder(parse("--model", hub_id, "--device", "cpu"))
    message = str(caught.value)
    assert hub_id in message and "--local-dir" in message  # what to do offline
    assert message.count("--local-dir") == 1  # said once, whoever says it


def test_seq2seq_model_needs_its_tokenizer(repo_root):
    with pytest.raises(UserError, match="pass its SentencePiece tokenizer with --tokenizer"):
        load_decoder(parse("--model", str(repo_root / "configs" / "t5-tiny"), "--device", "cpu"))


def test_seq2seq_decoder_from_flags(tiny_t5_repo_dir, t5_tokenizer_dir, repo_root, caplog):
    decoder = load_decoder(parse("--model", str(tiny_t5_repo_dir), "--device", "cpu",
                                 "--max_length", "5"))
    assert decoder.seq2seq and decoder.sources.template == "repo"
    assert decoder.context_budget == 64  # max_source_len recorded in grounding.json
    fresh = load_decoder(parse("--model", str(repo_root / "configs" / "t5-tiny"), "--tokenizer",
                               str(t5_tokenizer_dir), "--device", "cpu", "--max_length", "3"))
    assert fresh.sources.template == "card" and len(fresh.respond([["hi"]])[0].ids) <= 3
    assert "RANDOM weights" in caplog.text
    with pytest.raises(UserError, match="causal DialoGPT models only"):
        load_decoder(parse("--model", str(tiny_t5_repo_dir), "--mmi_model",
                           str(tiny_t5_repo_dir), "--decoding", "sample", "--device", "cpu"))
