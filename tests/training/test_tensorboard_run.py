"""LSP_train.py --tensorboard writes the JSON-lines rows as scalars; the start-up outlook is
logged (plan, learning-rate peak, first checkpoint), then again with the measured speed."""

from __future__ import annotations

import json

import pytest
from training_helpers import train_argv

from dialogpt.training.train import main

pytest.importorskip("tensorboard")
pytestmark = pytest.mark.slow  # a 4-step training run


def test_tensorboard_scalars_equal_the_jsonl_rows(corpus, tiny_config, tmp_path, capsys,
                                                  monkeypatch):
    from dialogpt.training import plan_report as outlook
    from test_tensorboard import read_scalars

    monkeypatch.setattr(outlook.Outlook.__init__, "__defaults__", (2, 30.0))  # measure at step 2
    out = tmp_path / "run"
    assert main(train_argv(tiny_config, corpus["train"], corpus["eval"], out,
                           num_optim_steps=4, valid_step=2, tensorboard="true")) == 0
    rows = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    evals = [json.loads(line) for line in (out / "eval_log.jsonl").read_text().splitlines()]
    scalars = read_scalars(out / "tensorboard")
    for key in ("loss", "mean_loss", "lr", "tokens_per_s"):
        assert scalars[f"train/{key}"] == [(row["global_step"], pytest.approx(row[key], rel=1e-6))
                                           for row in rows]
    assert scalars["eval/eval_loss"] == [(row["global_step"], pytest.approx(row["eval_loss"],
                                                                            rel=1e-6))
                                         for row in evals]
    log = capsys.readouterr().err
    assert "plan: 4 optimizer steps, 4 to go\n" in log
    assert "measured over 2 steps: plan: 4 optimizer steps, 2 to go: " in log
    assert "next checkpoint: step 2 (in 0 s) (--save_step)" in log  # saved right after step 2
