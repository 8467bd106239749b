"""``demo.py --task finetune``: flags, and the whole few-shot demo with its margins pinned (slow)."""

from __future__ import annotations

import json

import pytest
from tiny_models import save_seeded_checkpoint

from dialogpt.cli import UserError, run_main
from dialogpt.demo import finetune, grounded, pipeline


def _demo(argv):
    return pipeline.Demo(pipeline.parse_demo_args(["--task", "finetune", *argv]))


def test_defaults_and_validation(tmp_path):
    demo = _demo([])
    assert str(demo.out) == "models/demo-finetune" and str(demo.data) == "data/finetune"
    assert demo.config.shots == [10, 50, 200] and \
        demo.config.pretrained_dir == "models/demo-finetune-base"
    finetune.validate(demo)
    for argv, message in ((["--shots", "0"], "--shots"), (["--shots", "400"], "exceeds"),
                          (["--finetune_min_steps", "0"], "--finetune_min_steps"),
                          (["--finetune_epochs", "0"], "--finetune_epochs"),
                          (["--model", str(tmp_path / "none")], "--model")):
        with pytest.raises(UserError, match=message):
            finetune.validate(_demo(argv))


def test_options_follow_the_flags():
    options = finetune.finetune_options(_demo(["--shots", "5", "--finetune_lr", "0.01",
                                               "--warmup_steps", "3"]))
    assert options["convert"] == {"shots": [5], "seed": 42}
    assert options["train"]["lr"] == 0.01 and options["train"]["train_flags"] == [
        "--warmup_steps", "3"]


def test_steps_per_run():
    # K = 10 dialogs give 30 examples: 8 x 30 / 16 = 15 steps, raised to the minimum
    assert finetune.run_steps(30, 8, 16, 100) == 100
    assert finetune.run_steps(600, 8, 16, 100) == 300
    assert finetune.run_steps(601, 8, 16, 100) == 301


def test_a_bad_flag_fails_before_any_stage(tmp_path, capsys):
    code = run_main(pipeline.main, ["--task", "finetune", "--shots", "0",
                                    "--output_dir", str(tmp_path / "out")])
    assert code == 2 and "--shots" in capsys.readouterr().err
    assert not (tmp_path / "out" / "stages").exists()


@pytest.mark.slow
def test_finetune_demo_end_to_end(tmp_path, monkeypatch):
    """The whole few-shot demo with its defaults (the grounded demo's model built first, seed 42,
    one torch thread), except that the tiny T5 starts from our seeded weights (as in
    ``test_grounded``), not transformers' initialisation. The margins are the claims: measured
    on runs of this test with --finetune_seed 42 and 7, pinned with a tolerance that both clear."""
    fitted = grounded.tiny_model
    monkeypatch.setattr(grounded, "tiny_model", lambda vocab_size, out_dir: save_seeded_checkpoint(
        fitted(vocab_size, tmp_path / "fitted-config"), out_dir, seed=42, std="t5"))
    out, data = tmp_path / "out", tmp_path / "data"
    assert pipeline.main(["--task", "finetune", "--output_dir", str(out), "--data_dir", str(data),
                          "--pretrained_dir", str(tmp_path / "pretrained")]) == 0
    report = json.loads((out / "report.json").read_text())
    metrics = report["metrics"]
    assert list(metrics) == ["zero-shot", "k10-full", "k10-lora", "k50-full", "k50-lora",
                             "k200-full", "k200-lora"]
    assert all(scores["n_examples"] == 300 and scores["task"] == "wow"
               for scores in metrics.values())

    def acc(name):
        return metrics[name]["answer_accuracy"]

    def kf1(name):
        return metrics[name]["knowledge_f1"]

    # Measured (answer accuracy x 100, 300 test records; seed 42 = this test / seed 7):
    # zero-shot 9.0 / 13.7; full K = 10, 50, 200: 19.3, 20.7, 37.0 / 10.7, 18.3, 19.0;
    # LoRA: 14.0, 24.7, 31.7 / 13.3, 19.7, 30.0. One run's accuracy moves by ~2.5 points per
    # standard error, and the tiny T5's runs scatter more than that across seeds, so only
    # margins both seeds clear are claimed.
    assert 0.05 <= acc("zero-shot") <= 0.20            # the new attributes: mostly wrong
    for name in ("k50-full", "k200-full", "k50-lora", "k200-lora"):
        assert acc(name) >= acc("zero-shot") + 0.03, name
        assert kf1(name) >= kf1("zero-shot"), name
    assert acc("k200-lora") >= acc("zero-shot") + 0.10
    assert max(acc(name) for name in metrics) >= acc("zero-shot") + 0.15
    text = (out / "REPORT.md").read_text()
    assert "| zero-shot | 0 | none |" in text and "| k200-lora | 200 | lora |" in text
    assert report["curve"] is None or (out / "fewshot_curve.png").exists()
