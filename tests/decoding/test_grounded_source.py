"""Seq2seq sources: the template a checkpoint recorded, overrides announced, settings."""

from __future__ import annotations

import json
import logging

import pytest

from dialogpt.cli import UserError
from dialogpt.decoding.grounded_source import source_settings
from dialogpt.grounding import DEFAULT_MAX_SOURCE_LEN, read_grounding


def record(directory, **fields):
    (directory / "grounding.json").write_text(json.dumps(fields), encoding="utf-8")
    return directory


def test_no_record_means_card_and_says_so(tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="dialogpt"):
        settings = source_settings(str(tmp_path), None, None, None, "", 0)
    assert (settings.template, settings.instruction, settings.max_source_len) == (
        "card", "", DEFAULT_MAX_SOURCE_LEN)
    assert "source template card (the default: the model records no template)" in caplog.text
    hub = source_settings("microsoft/GODEL-v1_1-base-seq2seq", None, None, None, "", 0)
    assert hub.template == "card"


def test_recorded_template_instruction_and_length_are_used(tmp_path, caplog):
    record(tmp_path, kind="seq2seq", template="repo", instruction="Instruction: be brief.",
           max_source_len=256, max_target_len=64)
    with caplog.at_level(logging.INFO, logger="dialogpt"):
        settings = source_settings(str(tmp_path), None, None, None, "fact", 0)
    assert (settings.template, settings.instruction, settings.knowledge,
            settings.max_source_len) == ("repo", "Instruction: be brief.", "fact", 256)
    assert f"source template repo (recorded in {tmp_path / 'grounding.json'})" in caplog.text
    assert "OVERRIDES" not in caplog.text
    assert source_settings(str(tmp_path), None, None, "", "", 100).max_source_len == 100
    assert source_settings(str(tmp_path), None, None, "", "", 0).instruction == ""


def test_override_is_announced(tmp_path, caplog):
    record(tmp_path, template="card")
    with caplog.at_level(logging.INFO, logger="dialogpt"):
        settings = source_settings(str(tmp_path), None, "repo", None, "", 0)
    assert settings.template == "repo"
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [f"--template repo OVERRIDES the template this model was trained with "
                        f"(card, recorded in {tmp_path / 'grounding.json'}): its responses may "
                        "degrade"]


def test_init_checkpoint_record_wins_over_the_model_dir(tmp_path):
    model, checkpoint = tmp_path / "model", tmp_path / "ckpt"
    model.mkdir()
    checkpoint.mkdir()
    record(model, template="card")
    record(checkpoint, template="repo")
    assert read_grounding(checkpoint / "model.safetensors", model)[0]["template"] == "card"
    (checkpoint / "model.safetensors").write_bytes(b"")
    assert read_grounding(checkpoint / "model.safetensors", model)[0]["template"] == "repo"
    assert source_settings(str(model), str(checkpoint), None, None, "", 0).template == "repo"


@pytest.mark.parametrize("content, message", [
    ("{not json", "cannot read the checkpoint's grounding record"),
    ('["card"]', "must hold a JSON object"),
    ('{"template": "chatml"}', "unknown template 'chatml'"),
])
def test_bad_records_are_user_errors(tmp_path, content, message):
    (tmp_path / "grounding.json").write_text(content, encoding="utf-8")
    with pytest.raises(UserError, match=message):
        source_settings(str(tmp_path), None, None, None, "", 0)


def test_tokenizer_fingerprint_must_match(tmp_path, t5_tokenizer_dir):
    from dialogpt.tokenization import load_tokenizer, tokenizer_fingerprint

    tokenizer = load_tokenizer(t5_tokenizer_dir)
    record(tmp_path, template="card", tokenizer_fingerprint=tokenizer_fingerprint(tokenizer))
    assert source_settings(str(tmp_path), None, None, None, "", 0, tokenizer).template == "card"
    record(tmp_path, template="card", tokenizer_fingerprint="0123456789abcdef")
    with pytest.raises(UserError, match="tokenizer does not match"):
        source_settings(str(tmp_path), None, None, None, "", 0, tokenizer)
