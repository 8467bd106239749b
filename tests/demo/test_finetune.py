"""``demo.py --task finetune``: flags, and the whole few-shot demo with its margins pinned (slow)."""

from __future__ import annotations

import json

import pytest

from dialogpt.cli import UserError, run_main
from dialogpt.demo import finetune, pipeline


def _demo(argv):
    return pipeline.Demo(pipeline.parse_demo_args(["--task", "finetune", *argv]))


def test_defaults_and_validation(tmp_path):
    demo = _demo([])
    assert str(demo.out) == "models/demo-finetune" and str(demo.data) == "data/finetune"
    assert demo.args.shots == [10, 50, 200] and demo.args.pretrained_dir == "models/demo-grounded"
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
def test_finetune_demo_end_to_end(tmp_path):
    """The whole few-shot demo with its defaults (the grounded demo's model built first, seed 42,
    one torch thread as in the tests). The margins are the claims: measured on seeded runs of
    these defaults (seeds 42 and 7; docs in README "Few-shot adaptation, shown"), pinned with a
    tolerance that both runs clear."""
    out, data = tmp_path / "out", tmp_path / "data"
    assert pipeline.main(["--task", "finetune", "--output_dir", str(out), "--data_dir", str(data),
                          "--pretrained_dir", str(tmp_path / "pretrained")]) == 0
    report = json.loads((out / "report.json").read_text())
    metrics = report["metrics"]
    assert list(metrics) == ["zero-shot", "k10-full", "k10-lora", "k50-full", "k50-lora",
                             "k200-full", "k200-lora"]
    assert all(scores["n_examples"] == 150 and scores["task"] == "wow"
               for scores in metrics.values())

    def acc(name):
        return metrics[name]["answer_accuracy"]

    def kf1(name):
        return metrics[name]["knowledge_f1"]

    # Measured (seed 42 / seed 7): zero-shot accuracy 15.3 / 17.3, knowledge F1 25.6 / 26.1;
    # K = 200 full 27.3 / 18.0 and 28.3 / 26.2; the best run 27.3 / 24.7; every run 8.7 to 27.3;
    # seed 42 with two threads: zero-shot 15.3, K = 200 full 19.3, best 24.7 (K = 50 full).
    # A 150-record accuracy moves by ~3.3 points per standard error, so only margins that both
    # seeds clear are claimed.
    assert 0.05 <= acc("zero-shot") <= 0.25            # near chance: the attributes are new
    assert acc("k200-full") >= acc("zero-shot")
    assert kf1("k200-full") >= kf1("zero-shot")
    assert max(acc(name) for name in metrics if name != "zero-shot") >= acc("zero-shot") + 0.05
    assert max(acc(name) for name in metrics) <= 0.35   # the tiny model barely learns to copy
    text = (out / "REPORT.md").read_text()
    assert "| zero-shot | 0 | none |" in text and "| k200-lora | 200 | lora |" in text
    assert report["curve"] is None or (out / "fewshot_curve.png").exists()
