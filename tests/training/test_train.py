"""End-to-end training runs on CPU with the tiny config: logs, checkpoints, errors, splits."""

from __future__ import annotations

import json
import math
import shutil

import pytest
import torch
from safetensors.torch import load_file
from training_helpers import poison_loss, read_csv_rows, train_argv

from dialogpt.cli import UserError
from dialogpt.training import checkpoint as ckpt
from dialogpt.training.logs import EVAL_COLUMNS, TRAIN_COLUMNS
from dialogpt.training.train import main


def _weights(checkpoint_dir):
    return load_file(str(checkpoint_dir / "model.safetensors"))


def test_a_short_run_writes_the_original_logs_and_loadable_checkpoints(corpus, tiny_config,
                                                                       tmp_path):
    out = tmp_path / "run"
    argv = train_argv(tiny_config, corpus["train"], corpus["eval"], out, num_optim_steps=3,
                      valid_step=2, eval_at_start="true")
    assert main(argv) == 0

    train_rows = read_csv_rows(out / "train_log.txt")
    assert tuple(train_rows[0]) == TRAIN_COLUMNS
    # exact counters: global_step = optimizer steps done, step = micro-batches done
    assert [(r["epoch"], r["global_step"], r["step"]) for r in train_rows] == \
        [("1", "1", "2"), ("1", "2", "4"), ("1", "3", "6")]
    assert float(train_rows[0]["mean_loss"]) > 0
    eval_rows = read_csv_rows(out / "eval_log.txt")
    assert tuple(eval_rows[0]) == EVAL_COLUMNS
    assert [r["global_step"] for r in eval_rows] == ["0", "2", "3"]

    records = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    assert [r["global_step"] for r in records] == [1, 2, 3]
    for record in records:
        assert record["lr"] == 1e-3 and record["tokens_per_s"] > 0 and record["wall_time"] > 0
        assert record["exp_loss"] == pytest.approx(math.exp(record["loss"]))
        assert record["n_token_labelled_step"] <= record["n_token_real_step"]
    assert records[0]["mean_loss"] == records[0]["loss"]
    assert records[1]["mean_loss"] == pytest.approx((records[0]["loss"] + records[1]["loss"]) / 2)
    final_eval = json.loads((out / "eval_log.jsonl").read_text().splitlines()[-1])
    assert final_eval["eval_exp_loss"] == pytest.approx(math.exp(final_eval["eval_loss"]))
    assert final_eval["eval_loss"] < json.loads(
        (out / "eval_log.jsonl").read_text().splitlines()[0])["eval_loss"]

    assert [path.name for path in ckpt.list_checkpoints(out)] == \
        ["checkpoint-step-2", "checkpoint-step-3"]
    from transformers import AutoModelForCausalLM, AutoTokenizer

    final = out / "checkpoint-step-3"
    model = AutoModelForCausalLM.from_pretrained(final)
    tokenizer = AutoTokenizer.from_pretrained(final)
    assert len(tokenizer) == 50257 and tokenizer.eos_token_id == 50256
    saved = _weights(final)
    for name, tensor in model.state_dict().items():
        if name in saved:
            assert torch.equal(tensor, saved[name]), name
    summary = json.loads((final / ckpt.SUMMARY_FILE).read_text())
    assert summary["global_step"] == 3 and summary["world_size"] == 1


def test_accumulation_split_does_not_change_the_update(corpus, tiny_config_no_dropout, tmp_path):
    """All 8 examples form every step; 1, 2 or 4 micro-batches must give the same parameters.

    Adam turns rounding noise on near-zero gradient entries into updates of up to ~lr, so the
    rate is kept at 1e-4 for a 1e-5 tolerance; weighting micro-batches (or examples) wrongly
    moves thousands of entries by ~lr.
    """
    finals = []
    for accumulation in (1, 2, 4):
        out = tmp_path / f"acc{accumulation}"
        argv = train_argv(tiny_config_no_dropout, corpus["tiny8"], None, out, learning_rate=1e-4,
                          train_batch_size=8, gradient_accumulation_steps=accumulation)
        assert main(argv) == 0
        finals.append(_weights(out / "checkpoint-step-3"))
    for other in finals[1:]:
        for name, tensor in finals[0].items():
            torch.testing.assert_close(other[name], tensor, rtol=0, atol=1e-5)


@pytest.mark.parametrize("flags", [{"precision": "bf16", "optimizer": "original"},
                                   {"num_workers": 1, "grad_checkpointing": "true",
                                    "lr_schedule": "noamwd", "warmup_steps": 2}])
def test_other_precisions_optimizers_and_options_train(corpus, tiny_config, tmp_path, flags):
    out = tmp_path / "run"
    assert main(train_argv(tiny_config, corpus["train"], None, out, num_optim_steps=2,
                           **flags)) == 0
    records = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    assert len(records) == 2 and all(math.isfinite(r["loss"]) for r in records)
    assert records[1]["loss"] < records[0]["loss"] + 1.0


def test_resume_auto_without_checkpoints_starts_fresh_and_refuses_to_mix_runs(
        corpus, tiny_config, tmp_path):
    out = tmp_path / "run"
    argv = train_argv(tiny_config, corpus["train"], None, out, num_optim_steps=1)
    assert main(argv + ["--resume", "auto"]) == 0
    with pytest.raises(UserError, match="already holds checkpoints"):
        main(argv)
    with pytest.raises(UserError, match="checkpoint-step-5 is not a complete checkpoint"):
        main(argv + ["--continue_from", "5"])
    assert main(argv + ["--continue_from", "1", "--num_optim_steps", "2"]) == 0
    assert [row["global_step"] for row in read_csv_rows(out / "train_log.txt")] == ["1", "2"]


# ---------------------------------------------------------------- bad input, before training
def _tokenizer_with_an_extra_token(tmp_path):
    from dialogpt.tokenization import load_tokenizer

    tokenizer = load_tokenizer()
    tokenizer.add_tokens(["<|newtoken|>"])
    path = tmp_path / "other-tokenizer"
    tokenizer.save_pretrained(path)
    return path


def _corrupt_copy(db, tmp_path):
    copy = tmp_path / "corrupt.db"
    shutil.copytree(db, copy)
    shard = sorted(copy.glob("*.tokens.bin"))[0]
    data = bytearray(shard.read_bytes())
    data[0] ^= 0xFF
    shard.write_bytes(bytes(data))
    return copy


@pytest.mark.parametrize("case, message", [
    ("missing_db", "does not exist"),
    ("corrupt_db", "corrupt|sha256|checksum"),
    ("other_tokenizer", "was built with tokenizer"),
    ("too_long", "exceeds the model's n_positions=256"),
    ("indivisible", "not divisible"),
    ("schedule", "unknown --lr_schedule"),
    ("missing_eval", "does not exist"),
])
def test_bad_input_is_a_clear_error_before_training(corpus, tiny_config, tmp_path, case,
                                                    message):
    out = tmp_path / "run"
    db, flags, extra = corpus["train"], {}, []
    if case == "missing_db":
        db = tmp_path / "nowhere.db"
    elif case == "corrupt_db":
        db = _corrupt_copy(corpus["train"], tmp_path)
    elif case == "other_tokenizer":
        extra = ["--tokenizer", str(_tokenizer_with_an_extra_token(tmp_path))]
    elif case == "too_long":
        flags = {"max_seq_length": 512}
    elif case == "indivisible":
        flags = {"train_batch_size": 6, "gradient_accumulation_steps": 4}
    elif case == "schedule":
        flags = {"lr_schedule": "cosine"}
    eval_tsv = tmp_path / "missing.tsv" if case == "missing_eval" else corpus["eval"]
    with pytest.raises(UserError, match=message):
        main(train_argv(tiny_config, db, eval_tsv, out, **flags) + extra)
    assert not (out / "train_log.txt").exists()
    assert not ckpt.list_checkpoints(out)


# ---------------------------------------------------------------- failures during training
def test_consecutive_non_finite_steps_stop_training_and_keep_the_last_good_checkpoint(
        corpus, tiny_config, tmp_path, monkeypatch):
    poison_loss(monkeypatch, math.nan, lambda call: call > 4)  # from step 3 on
    out = tmp_path / "run"
    argv = train_argv(tiny_config, corpus["train"], None, out, num_optim_steps=20, save_step=1,
                      max_nonfinite_steps=3)
    with pytest.raises(UserError, match="non-finite for 3 consecutive steps.*checkpoint-step-2"):
        main(argv)
    assert [path.name for path in ckpt.list_checkpoints(out)] == \
        ["checkpoint-step-1", "checkpoint-step-2"]
    assert all(torch.isfinite(t).all() for t in _weights(out / "checkpoint-step-2").values())
    records = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    assert [r["skipped"] for r in records] == [False, False, True, True, True]


def test_fp16_grad_scaler_path_skips_overflowing_steps_and_checkpoints_its_scale(
        corpus, tiny_config, tmp_path, monkeypatch):
    """The fp16 path (autocast fp16 + dynamic GradScaler) run on CPU, where the flag itself is
    refused: an overflowing step is skipped by the scaler, halves the scale, leaves the weights
    untouched, and the scale travels in the checkpoint."""
    from dialogpt.training import loop

    monkeypatch.setattr(loop, "resolve_precision", lambda args, device_type: "fp16")
    poison_loss(monkeypatch, math.inf, lambda call: call == 2)  # step 2 (one micro-batch a step)
    out = tmp_path / "fp16"
    assert main(train_argv(tiny_config, corpus["train"], None, out, num_optim_steps=2,
                           train_batch_size=2, gradient_accumulation_steps=1,
                           save_step=1)) == 0
    records = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    assert [r["skipped"] for r in records] == [False, True]
    assert [r["loss_scale"] for r in records] == [2.0 ** 16, 2.0 ** 15]
    assert math.isfinite(records[0]["loss"]) and records[1]["loss"] == "inf"  # JSON has no inf
    assert records[1]["mean_loss"] == records[0]["loss"]
    step1, step2 = (_weights(out / f"checkpoint-step-{n}") for n in (1, 2))
    assert all(torch.equal(step1[name], step2[name]) for name in step1)
    state = ckpt.load_training_state(out / "checkpoint-step-2")
    assert state["scaler"]["scale"] == 2.0 ** 15
    assert {int(param["step"]) for param in state["optimizer"]["state"].values()} == {1}


def test_a_failed_save_keeps_the_previous_checkpoint_and_leaves_no_debris(
        corpus, tiny_config, tmp_path, monkeypatch):
    real_save = torch.save
    saves = {"n": 0}

    def disk_full_on_second_checkpoint(obj, path, *args, **kwargs):
        saves["n"] += 1
        if saves["n"] == 2:
            with open(path, "wb") as handle:
                handle.write(b"partial")
            raise OSError(28, "No space left on device")
        return real_save(obj, path, *args, **kwargs)

    monkeypatch.setattr(ckpt.torch, "save", disk_full_on_second_checkpoint)
    out = tmp_path / "run"
    argv = train_argv(tiny_config, corpus["train"], None, out, num_optim_steps=3, save_step=1)
    with pytest.raises(UserError, match="could not write checkpoint .*checkpoint-step-2.*"
                                        "No space left"):
        main(argv)
    assert sorted(path.name for path in out.iterdir() if "checkpoint" in path.name) == \
        ["checkpoint-step-1"]
    monkeypatch.setattr(ckpt.torch, "save", real_save)
    assert ckpt.latest_checkpoint(out) == out / "checkpoint-step-1"
    assert main(argv + ["--resume", "auto"]) == 0
    assert ckpt.latest_checkpoint(out) == out / "checkpoint-step-3"
