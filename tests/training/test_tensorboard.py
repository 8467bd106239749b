"""--tensorboard: the JSON-lines rows come back from the event files as the same scalars."""

from __future__ import annotations

import math

import pytest

from dialogpt.training.tensorboard import TensorBoardLog

pytest.importorskip("tensorboard")

ROWS = [{"epoch": 1, "global_step": 1, "step": 2, "mean_loss": 10.5, "mean_ppl": 36315.5,
         "loss": 10.5, "ppl": 36315.5, "lr": 1e-4, "grad_norm": 1.25, "tokens_per_s": 850.0,
         "wall_s": 0.5},
        {"epoch": 1, "global_step": 2, "step": 4, "mean_loss": 10.25, "mean_ppl": 28282.5,
         "loss": 10.0, "ppl": 22026.5, "lr": 2e-4, "grad_norm": "nan", "tokens_per_s": 900.0,
         "wall_s": 1.0}]
EVAL = {"epoch": 1, "global_step": 2, "step": 4, "eval_loss": 9.75, "eval_ppl": 17154.2}


def read_scalars(log_dir):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(log_dir))
    events.Reload()
    return {tag: [(e.step, e.value) for e in events.Scalars(tag)]
            for tag in events.Tags()["scalars"]}


def test_rows_become_the_same_scalars(tmp_path):
    log = TensorBoardLog(tmp_path)
    for row in ROWS:
        log.add_row("train", row)
    log.add_row("eval", EVAL)
    log.close()
    scalars = read_scalars(tmp_path / "tensorboard")
    expected_tags = {f"train/{key}" for key in ROWS[0] if key != "global_step"}
    expected_tags |= {f"eval/{key}" for key in EVAL if key != "global_step"}
    assert set(scalars) == expected_tags
    for key in ("loss", "lr", "tokens_per_s", "mean_ppl"):
        assert scalars[f"train/{key}"] == [(1, pytest.approx(ROWS[0][key], rel=1e-6)),
                                           (2, pytest.approx(ROWS[1][key], rel=1e-6))]
    assert math.isnan(scalars["train/grad_norm"][1][1])  # "nan" in the JSON log
    assert scalars["eval/eval_loss"] == [(2, 9.75)]
