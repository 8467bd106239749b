"""Decoding flags: validation and the Hugging Face generation fields they map to."""

from __future__ import annotations

import pytest

from dialogpt.cli import UserError
from dialogpt.config import build_parser, parse_config
from dialogpt.decoding.decoder_config import DecoderConfig
from dialogpt.decoding.options import DecodingOptions, generation_kwargs


def parse(*argv: str) -> DecodingOptions:
    parser = build_parser(DecoderConfig, "test", "")
    return parse_config(DecoderConfig, parser, ["--model", "m", *argv]).options


def test_flags_round_trip_to_options():
    options = parse("--decoding", "sample", "--top_k", "20", "--top_p", "0.9", "--max_length", "30",
                    "--max_history", "2", "--mmi_temperature", "0.5")
    assert (options.decoding, options.top_k, options.top_p) == ("sample", 20, 0.9)
    assert (options.max_length, options.max_history, options.mmi_temperature) == (30, 2, 0.5)
    assert parse() == DecodingOptions()


def test_greedy_sets_no_sampling_fields():
    kwargs = generation_kwargs(DecodingOptions(max_length=12), 1, eos_id=50256, pad_id=50256)
    assert kwargs["do_sample"] is False and kwargs["num_beams"] == 1
    assert kwargs["top_k"] is None and kwargs["top_p"] is None and kwargs["temperature"] is None
    assert (kwargs["max_new_tokens"], kwargs["eos_token_id"], kwargs["pad_token_id"]) == (
        12, 50256, 50256)


def test_sample_and_beam_fields():
    sample = generation_kwargs(DecodingOptions(decoding="sample", top_k=20, temperature=0.7), 10,
                               1, 1)
    assert sample["do_sample"] and sample["top_k"] == 20 and sample["temperature"] == 0.7
    assert sample["num_return_sequences"] == 10
    beam = generation_kwargs(DecodingOptions(decoding="beam", num_beams=4), 6, 1, 1)
    assert not beam["do_sample"] and beam["num_beams"] == 6


@pytest.mark.parametrize("bad", [dict(top_k=-1), dict(top_p=0.0), dict(top_p=1.5),
                                 dict(temperature=0.0), dict(max_length=0), dict(max_history=-1),
                                 dict(num_candidates=0), dict(decoding="nucleus")])
def test_invalid_values_are_user_errors(bad):
    with pytest.raises(UserError):
        DecodingOptions(**bad)


def test_reranking_needs_several_candidates():
    assert DecodingOptions().candidate_count(reranking=False) == 1
    assert DecodingOptions(decoding="sample", num_candidates=5).candidate_count(True) == 5
    with pytest.raises(UserError, match="--decoding sample"):
        DecodingOptions(decoding="greedy").candidate_count(reranking=True)


def parse_preset(*argv: str):
    from dialogpt.decoding.decoder_config import parse_with_preset

    parser = build_parser(DecoderConfig, "test", "")
    config = parse_with_preset(DecoderConfig, parser, ["--model", "m", *argv])
    return config.options, config.preset_note()


def test_card_preset_is_the_model_cards_settings():
    options, note = parse_preset("--preset", "card")
    # GODEL v1.1 cards: generate(max_length=128, min_length=8, top_p=0.9, do_sample=True)
    assert (options.decoding, options.max_length, options.min_length, options.top_p,
            options.top_k) == ("sample", 128, 8, 0.9, 0)
    assert note == ("--preset card sets --decoding sample --max_length 128 --min_length 8 "
                    "--top_p 0.9 --top_k 0")
    kwargs = generation_kwargs(options, 1, 1, 0, decoder_start_id=0)
    assert (kwargs["do_sample"], kwargs["top_p"], kwargs["top_k"], kwargs["max_new_tokens"],
            kwargs["min_new_tokens"], kwargs["decoder_start_token_id"]) == (
        True, 0.9, 0, 128, 8, 0)


def test_server_preset_and_explicit_flags_win():
    options, note = parse_preset("--max_length", "40", "--preset", "server", "--seed", "1")
    # GODEL's example server: generate(max_length=128, min_length=32, top_k=10,
    # no_repeat_ngram_size=4), no do_sample: greedy.
    assert (options.decoding, options.max_length, options.min_length, options.top_k,
            options.no_repeat_ngram_size, options.seed) == ("greedy", 40, 32, 10, 4, 1)
    assert note.endswith("; overridden by your flags: --max_length 40")
    kwargs = generation_kwargs(options, 1, 1, 0)
    assert (kwargs["do_sample"], kwargs["no_repeat_ngram_size"], kwargs["min_new_tokens"]) == (
        False, 4, 32)
    assert "decoder_start_token_id" not in kwargs
    assert parse_preset() == (DecodingOptions(), None)


def test_min_length_must_fit_max_length():
    assert DecodingOptions(max_length=8, min_length=8).min_length == 8
    for bad in (dict(min_length=-1), dict(max_length=4, min_length=5)):
        with pytest.raises(UserError, match="--min_length"):
            DecodingOptions(**bad)
