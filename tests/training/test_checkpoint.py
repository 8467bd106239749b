"""Checkpoint discovery, resume resolution, RNG capture, log truncation and prefetching."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
import torch

from dialogpt.cli import UserError
from dialogpt.training import checkpoint as ckpt
from dialogpt.training.logs import RunLogger
from dialogpt.training.step_batches import prefetched


def _fake_checkpoint(root, step, complete=True):
    path = ckpt.checkpoint_path(root, step)
    path.mkdir(parents=True)
    names = ["config.json", "model.safetensors", ckpt.STATE_FILE, ckpt.SUMMARY_FILE]
    for name in names if complete else names[:2]:
        (path / name).write_text("{}")
    return path


def test_newest_complete_checkpoint_is_found_by_step_number_not_name(tmp_path):
    _fake_checkpoint(tmp_path, 9)
    newest = _fake_checkpoint(tmp_path, 10)
    _fake_checkpoint(tmp_path, 11, complete=False)            # e.g. copied by hand, half done
    (tmp_path / ".checkpoint-step-12.abc.tmp").mkdir()         # an interrupted atomic write
    (tmp_path / "checkpoint-step-x").mkdir()
    assert [p.name for p in ckpt.list_checkpoints(tmp_path)] == \
        ["checkpoint-step-9", "checkpoint-step-10"]
    assert ckpt.latest_checkpoint(tmp_path) == newest
    assert ckpt.latest_checkpoint(tmp_path / "absent") is None


def test_resume_resolution(tmp_path):
    run = tmp_path / "run"
    first = _fake_checkpoint(run, 3)
    second = _fake_checkpoint(run, 6)
    assert ckpt.resolve_resume(None, 0, run) is None
    assert ckpt.resolve_resume("auto", 0, run) == second
    assert ckpt.resolve_resume("auto", 0, tmp_path / "fresh") is None
    assert ckpt.resolve_resume(str(first), 0, tmp_path / "elsewhere") == first
    assert ckpt.resolve_resume(str(run), 0, tmp_path / "elsewhere") == second
    assert ckpt.resolve_resume(None, 3, run) == first
    with pytest.raises(UserError, match="no complete checkpoint-step-N"):
        ckpt.resolve_resume(str(tmp_path / "empty"), 0, run)
    with pytest.raises(UserError, match="incomplete checkpoint"):
        ckpt.resolve_resume(str(_fake_checkpoint(run, 7, complete=False)), 0, run)


def test_rng_states_round_trip_through_a_weights_only_file(tmp_path):
    random.seed(1), np.random.seed(2), torch.manual_seed(3)
    torch.save({"rng": ckpt.capture_rng_state()}, tmp_path / "state.pt")
    expected = (random.random(), np.random.rand(), torch.rand(1).item())
    ckpt.restore_rng_state(torch.load(tmp_path / "state.pt", weights_only=True)["rng"])
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == expected


def test_resumed_logs_drop_rows_written_after_the_checkpoint(tmp_path):
    def row(step):
        return {"epoch": 1, "global_step": step, "step": 2 * step, "mean_loss": 1.0,
                "mean_ppl": 2.0, "n_token_real": 3, "n_token_total": 4, "epoch_time": 0.5,
                "loss": 1.0, "ppl": 2.0, "tokens_per_s": 10.0}

    log = RunLogger(tmp_path, enabled=True, resume_step=None, total_steps=9, show_bar=False)
    for step in (1, 2, 3, 4):
        log.train_row(row(step))
    log.eval_row({"epoch": 1, "global_step": 4, "step": 8, "eval_loss": 1.0, "eval_ppl": 2.0})
    log.close()
    log = RunLogger(tmp_path, enabled=True, resume_step=2, total_steps=9, show_bar=False)
    log.train_row(row(3))
    log.close()
    lines = (tmp_path / "train_log.txt").read_text().splitlines()
    assert lines[0].startswith("epoch,global_step,step,mean_loss")
    assert [line.split(",")[1] for line in lines[1:]] == ["1", "2", "3"]
    steps = [json.loads(line)["global_step"]
             for line in (tmp_path / "train_log.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3]
    assert (tmp_path / "eval_log.txt").read_text().splitlines() == \
        ["epoch,global_step,step,eval_loss,eval_ppl"]


@pytest.mark.parametrize("depth", [0, 3])
def test_prefetching_keeps_order_and_reraises_loader_errors(depth):
    def items():
        for index in range(5):
            yield {"x": torch.tensor([index])}, {"batches_consumed": index + 1}
        raise RuntimeError("DB shard vanished")

    seen = []
    with pytest.raises(RuntimeError, match="DB shard vanished"):
        for batch, position in prefetched(items(), depth):
            seen.append((int(batch["x"]), position["batches_consumed"]))
    assert seen == [(i, i + 1) for i in range(5)]
