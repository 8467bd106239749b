"""demo.py's stage cache with the real stage list and flags (stage bodies stubbed): a changed
--data or --model redoes the right stages, --force checks everything before deleting anything."""

from __future__ import annotations

import pytest

from dialogpt.cli import UserError, run_main
from dialogpt.demo import pipeline


@pytest.fixture
def demo_env(tmp_path, monkeypatch):
    """Stubbed stages recording their calls; the train stage leaves a checkpoint folder."""
    calls: list[str] = []

    def stub(name):
        def stage(demo, results):
            calls.append(name)
            if name == "train":
                (demo.train_dir / "checkpoint-step-1").mkdir(parents=True)
                return {"checkpoint": str(demo.train_dir / "checkpoint-step-1")}
            return {"stage": name}
        return stage

    for name in pipeline.STAGES:
        monkeypatch.setattr(pipeline, f"stage_{name}", stub(name))
    monkeypatch.setattr("dialogpt.hub.require_hub_id", lambda name, what="model": None)
    dumps = tmp_path / "dumps"
    dumps.mkdir()
    base = ["--output_dir", str(tmp_path / "out"), "--data_dir", str(tmp_path / "data")]
    return calls, base, dumps, tmp_path / "out"


def test_changed_data_or_model_redo_their_stages(demo_env, capsys):
    calls, base, dumps, out = demo_env
    assert pipeline.main(base) == 0 and calls == list(pipeline.STAGES)
    calls.clear()
    assert pipeline.main(base) == 0 and calls == []                 # same flags: all skipped
    assert pipeline.main(base + ["--model", "small"]) == 0
    assert calls == ["train", "generate", "evaluate", "report"]
    calls.clear()
    assert pipeline.main(base + ["--model", "small", "--data", "small", "--dumps",
                                 str(dumps)]) == 0
    assert calls == list(pipeline.STAGES)
    assert "its options changed (data: 'dummy' -> 'small'" in capsys.readouterr().err
    calls.clear()
    assert pipeline.main(base + ["--model", "small", "--data", "small", "--dumps", str(dumps),
                                 "--learning_rate", "1e-4"]) == 0   # a flag for LSP_train.py
    assert calls == ["train", "generate", "evaluate", "report"]


def test_a_redone_training_starts_from_an_empty_folder(demo_env):
    calls, base, _, out = demo_env
    assert pipeline.main(base) == 0
    (out / "train" / "stale.txt").write_text("from the tiny run")
    assert pipeline.main(base + ["--num_optim_steps", "10"]) == 0
    assert not (out / "train" / "stale.txt").exists()


def test_force_validates_before_deleting(demo_env, capsys):
    calls, base, _, out = demo_env
    assert pipeline.main(base) == 0
    before = sorted(path.relative_to(out) for path in out.rglob("*") if "lock" not in path.name)
    calls.clear()
    assert run_main(pipeline.main, base + ["--data", "small", "--force"]) == 2
    assert "--dumps DIR" in capsys.readouterr().err
    assert run_main(pipeline.main, base + ["--force", "--no_such_flag", "1"]) == 2
    assert "--no_such_flag" in capsys.readouterr().err
    after = sorted(path.relative_to(out) for path in out.rglob("*") if "lock" not in path.name)
    assert calls == [] and after == before  # nothing ran, nothing was deleted


def test_an_unreachable_hub_model_fails_before_any_stage(demo_env, monkeypatch):
    calls, base, _, _ = demo_env

    def offline(name, what="model"):
        raise UserError(f"could not load {what} {name!r}: the Hugging Face Hub is unreachable")

    monkeypatch.setattr("dialogpt.hub.require_hub_id", offline)
    with pytest.raises(UserError, match="microsoft/DialoGPT-small"):
        pipeline.main(base + ["--model", "small"])
    assert calls == []


def test_mmi_adds_its_stages_before_the_report(demo_env, monkeypatch):
    from dialogpt.demo import mmi

    calls, base, _, _ = demo_env
    for name in mmi.MMI_STAGES:
        monkeypatch.setattr(mmi, f"stage_{name}", lambda demo, results, name=name:
                            calls.append(name) or {})
    assert pipeline.main(base) == 0
    calls.clear()
    assert pipeline.main(base + ["--mmi"]) == 0  # the finished stages are kept
    assert calls == [*mmi.MMI_STAGES, "report"]


@pytest.mark.slow
def test_demo_mmi_runs_the_recipe_end_to_end(tmp_path):
    """Tiny sizes: two 10-step trainings, 10 held-out contexts, MMI over 8 candidates."""
    import json

    out = tmp_path / "out"
    argv = ["--output_dir", str(out), "--data_dir", str(tmp_path / "data"), "--mmi",
            "--num_optim_steps", "10", "--valid_step", "10", "--num_heldout", "10", "--jobs", "2"]
    assert pipeline.main(argv) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["metrics_mmi"]["n_lines"] == 10 == report["metrics"]["n_lines"]
    assert (out / "train-reverse" / "checkpoint-step-10").is_dir()
    assert "With MMI reranking" in (out / "REPORT.md").read_text()
    first_eval = json.loads((out / "train-reverse" / "eval_log.jsonl").read_text().splitlines()[0])
    assert first_eval["global_step"] == 0  # the backward model was evaluated (on reversed lines)
