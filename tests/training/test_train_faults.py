"""Issue 14 in training: one run per --output_dir, counted eval files, divergence advice that
fits, a graceful Ctrl-C/SIGTERM, DBs of too-long examples, overridden flags, resume lineage."""

from __future__ import annotations

import json
import math
import os
import signal

import pytest
from training_helpers import poison_loss, train_argv

from dialogpt.cli import UserError, run_main
from dialogpt.locking import RunLock
from dialogpt.training import checkpoint as ckpt
from dialogpt.training.train import main


# 1
def test_1_second_run_into_the_same_output_dir_fails_at_once(corpus, tiny_config, tmp_path):
    out = tmp_path / "run"
    with RunLock(out, flag="--output_dir"):
        with pytest.raises(UserError, match=f"--output_dir {out} is in use by another run: "
                                            f"process {os.getpid()}"):
            main(train_argv(tiny_config, corpus["train"], None, out, num_optim_steps=1))
    assert not (out / "train_log.txt").exists()


# 3
def test_3_eval_file_is_counted_at_start_up_and_an_unusable_one_is_an_error(
        corpus, tiny_config, tmp_path, capsys):
    valid = tmp_path / "valid.tsv"
    valid.write_bytes(corpus["eval"].read_bytes() + b"no tab on this line\n\xff\tx\n")
    assert main(train_argv(tiny_config, corpus["train"], valid, tmp_path / "a",
                           num_optim_steps=1)) == 0
    assert f"eval: 12 examples from 14 lines of {valid}, 2 skipped: " in capsys.readouterr().err
    valid.write_bytes(b"no tab on this line\n\xff\tx\n")
    with pytest.raises(UserError, match="eval: 0 examples from 2 lines"):
        main(train_argv(tiny_config, corpus["train"], valid, tmp_path / "b", num_optim_steps=1))
    assert not (tmp_path / "b" / "train_log.txt").exists()


# 5
def test_5_divergence_warns_early_and_points_at_the_newest_finite_checkpoint(
        corpus, tiny_config, tmp_path, monkeypatch, capsys):
    import torch
    from safetensors.torch import load_file, save_file

    from dialogpt.fileio import write_manifest

    out = tmp_path / "run"

    def blow_up_checkpoint_2(call):
        if call == 5:  # step 3 (2 micro-batches a step): checkpoint-step-2 exists by now
            path = ckpt.checkpoint_path(out, 2)
            weights = load_file(path / "model.safetensors")
            weights["transformer.ln_f.weight"][0] = torch.nan
            save_file(weights, path / "model.safetensors", metadata={"format": "pt"})
            write_manifest(path)
        return call > 4

    poison_loss(monkeypatch, math.nan, blow_up_checkpoint_2)
    argv = train_argv(tiny_config, corpus["train"], None, out, num_optim_steps=20, save_step=1,
                      max_nonfinite_steps=3)
    with pytest.raises(UserError) as error:
        main(argv)
    message = str(error.value)
    assert f"resume from {ckpt.checkpoint_path(out, 1)}," in message
    assert "a lower --learning_rate (now 0.001, e.g. 0.00025)" in message
    assert "warm-up" in message and "--precision" not in message  # fp32, no schedule
    err = capsys.readouterr().err
    assert "step 3: non-finite loss or gradients, update skipped" in err


# 8
def _signal_after_step(monkeypatch, step: int, *signals: int) -> None:
    from dialogpt.training.loop import Trainer

    original = Trainer.train_step
    calls = {"n": 0}

    def train_step(self, micro_batches):
        result = original(self, micro_batches)
        calls["n"] += 1
        if calls["n"] == step:
            for signum in signals:
                os.kill(os.getpid(), signum)
        return result

    monkeypatch.setattr(Trainer, "train_step", train_step)


@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_8_ctrl_c_or_sigterm_stops_after_the_step_saves_and_says_how_to_continue(
        corpus, tiny_config, tmp_path, monkeypatch, capsys, signum, code):
    out = tmp_path / "run"
    argv = train_argv(tiny_config, corpus["train"], None, out, num_optim_steps=6)
    _signal_after_step(monkeypatch, 2, signum)
    previous = signal.getsignal(signal.SIGINT)
    assert run_main(main, argv) == code
    assert signal.getsignal(signal.SIGINT) is previous
    err = capsys.readouterr().err
    assert "Traceback" not in err and "--resume auto" in err
    assert [p.name for p in ckpt.list_checkpoints(out)] == ["checkpoint-step-2"]
    monkeypatch.undo()
    assert main(argv + ["--resume", "auto"]) == 0
    records = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    assert [r["global_step"] for r in records] == [1, 2, 3, 4, 5, 6]


def test_8_a_second_ctrl_c_stops_at_once(corpus, tiny_config, tmp_path, monkeypatch, capsys):
    out = tmp_path / "run"
    _signal_after_step(monkeypatch, 2, signal.SIGINT, signal.SIGINT)
    assert run_main(main, train_argv(tiny_config, corpus["train"], None, out,
                                     num_optim_steps=6)) == 130
    assert "Traceback" not in capsys.readouterr().err
    assert ckpt.list_checkpoints(out) == []
    assert not (out / ".dialogpt.lock").exists()


# 10
def test_10_every_example_too_long_is_exit_2_with_the_fix(corpus, tiny_config, tmp_path, capsys):
    argv = train_argv(tiny_config, corpus["train"], None, tmp_path / "run", num_optim_steps=1,
                      max_seq_length=3)
    assert run_main(main, argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "raise --max_seq_length to" in err
    assert "rebuild the DB with prepro.py --max_seq_len 3" in err


def test_10_the_plan_counts_only_the_examples_used(corpus, tiny_config, tmp_path, capsys):
    from dialogpt.data.db import TokenDB

    lengths = sorted(int(n) for n in TokenDB(corpus["train"]).lengths)
    limit = lengths[len(lengths) // 2]
    used = sum(1 for n in lengths if n <= limit)
    assert main(train_argv(tiny_config, corpus["train"], None, tmp_path / "run",
                           num_optim_steps=1, max_seq_length=limit)) == 0
    assert (f"{used} examples used of {len(lengths)} ({len(lengths) - used} longer than "
            "max_seq_length left out)") in capsys.readouterr().err


# 12
def test_12_overridden_training_flags_are_named(corpus, tiny_config, tmp_path, capsys):
    assert main(train_argv(tiny_config, corpus["train"], None, tmp_path / "run",
                           num_optim_steps=1, precision="fp32", fp16="false",
                           eval_at_start="true")) == 0
    warned = [line for line in capsys.readouterr().err.splitlines() if "ignored flags" in line]
    assert len(warned) == 1
    assert "--fp16 false (--precision fp32 decides)" in warned[0]
    assert "--eval_at_start (--skip_eval never evaluates)" in warned[0]


# 13
def test_13_resume_with_another_model_warns_and_records_what_was_loaded(
        corpus, tiny_config, tiny_config_no_dropout, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(train_argv(tiny_config, corpus["train"], None, out, num_optim_steps=1)) == 0
    capsys.readouterr()
    assert main(train_argv(tiny_config_no_dropout, corpus["train"], None, out,
                           num_optim_steps=2, resume="auto")) == 0
    err = capsys.readouterr().err
    assert f"--model_name_or_path {tiny_config_no_dropout} not used" in err
    newest = ckpt.checkpoint_path(out, 2)
    summary = json.loads((newest / ckpt.SUMMARY_FILE).read_text())
    assert summary["model_name_or_path"] == str(tiny_config)
    assert summary["resumed_from"] == str(ckpt.checkpoint_path(out, 1))
    state = ckpt.load_training_state(newest)
    assert state["args"]["model_name_or_path"] == str(tiny_config)


# 7
def test_7_disk_full_while_saving_a_checkpoint_is_one_message(corpus, tiny_config, tmp_path,
                                                               monkeypatch, capsys):
    import shutil

    from dialogpt import fileio

    def full_disk_save(*args, **kwargs):  # what torch raises when the disk fills up
        raise RuntimeError("[enforce fail at inline_container.cc:672] . PytorchStreamWriter "
                           "failed writing file data/0: file write failed")

    real_usage = shutil.disk_usage
    monkeypatch.setattr(ckpt.torch, "save", full_disk_save)
    monkeypatch.setattr(fileio.shutil, "disk_usage",
                        lambda path: real_usage(path)._replace(free=4096))
    out = tmp_path / "run"
    assert run_main(main, train_argv(tiny_config, corpus["train"], None, out,
                                     num_optim_steps=1)) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert f"no space left writing {ckpt.checkpoint_path(out, 1)}" in err
    assert sorted(p.name for p in out.iterdir() if "checkpoint" in p.name) == []


# 9
def test_9_output_dir_that_is_a_file_is_refused_up_front(corpus, tiny_config, tmp_path):
    taken = tmp_path / "run"
    taken.write_text("not a directory")
    with pytest.raises(UserError, match=f"--output_dir {taken} is a file"):
        main(train_argv(tiny_config, corpus["train"], None, taken, num_optim_steps=1))
