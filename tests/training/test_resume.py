"""Exact resume: 6 steps straight == 3 steps, SIGKILL during step 5, resume --resume auto."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file
from training_helpers import KILLER, read_csv_rows, train_argv

from dialogpt.training import checkpoint as ckpt
from dialogpt.training.train import main

_DETERMINISTIC_COLUMNS = ("epoch", "global_step", "step", "mean_loss", "mean_ppl", "n_token_real",
                          "n_token_total")


def _loss_columns(out):
    return [tuple(row[c] for c in _DETERMINISTIC_COLUMNS)
            for row in read_csv_rows(out / "train_log.txt")]


@pytest.mark.slow
def test_sigkill_then_resume_matches_an_uninterrupted_run_bit_for_bit(corpus, tiny_config,
                                                                      tmp_path, repo_root):
    # dropout on (configs/tiny), 2 micro-batches per step, an epoch boundary at step 7 is not
    # reached but evaluation (every 2 steps) runs between saved and resumed steps
    flags = dict(num_optim_steps=6, save_step=3, valid_step=2, train_batch_size=8,
                 gradient_accumulation_steps=2, lr_schedule="noam", warmup_steps=4,
                 learning_rate=1e-4)
    straight = tmp_path / "straight"
    assert main(train_argv(tiny_config, corpus["train"], corpus["eval"], straight, **flags)) == 0

    # the interrupted run prefetches batches in a thread: positions must still be exact
    crashed = tmp_path / "crashed"
    argv = train_argv(tiny_config, corpus["train"], corpus["eval"], crashed, num_workers=1,
                      **flags)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    child = subprocess.run([sys.executable, "-c", KILLER, "5", *argv], cwd=repo_root, env=env,
                           capture_output=True, text=True, timeout=300)
    assert child.returncode == -signal.SIGKILL, child.stderr[-2000:]
    assert ckpt.latest_checkpoint(crashed) == crashed / "checkpoint-step-3"
    assert len(read_csv_rows(crashed / "train_log.txt")) == 4   # step 4 logged, then killed

    assert main(argv + ["--resume", "auto"]) == 0

    assert _loss_columns(crashed) == _loss_columns(straight)
    assert [r["global_step"] for r in read_csv_rows(crashed / "eval_log.txt")] == \
        ["2", "4", "6"]
    assert [r["eval_loss"] for r in read_csv_rows(crashed / "eval_log.txt")] == \
        [r["eval_loss"] for r in read_csv_rows(straight / "eval_log.txt")]
    final_straight = load_file(str(straight / "checkpoint-step-6" / "model.safetensors"))
    final_resumed = load_file(str(crashed / "checkpoint-step-6" / "model.safetensors"))
    assert final_straight.keys() == final_resumed.keys()
    for name, tensor in final_straight.items():
        assert torch.equal(tensor, final_resumed[name]), name
    state_straight = ckpt.load_training_state(straight / "checkpoint-step-6")
    state_resumed = ckpt.load_training_state(crashed / "checkpoint-step-6")
    assert state_straight["loader"] == state_resumed["loader"]
    assert state_straight["progress"]["micro_step"] == state_resumed["progress"]["micro_step"]
    for a, b in zip(state_straight["optimizer"]["state"].values(),
                    state_resumed["optimizer"]["state"].values(), strict=True):
        assert torch.equal(a["exp_avg_sq"], b["exp_avg_sq"])
    records = [json.loads(line) for line in (crashed / "train_log.jsonl").read_text().splitlines()]
    assert [r["global_step"] for r in records] == [1, 2, 3, 4, 5, 6]
