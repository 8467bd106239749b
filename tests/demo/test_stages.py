"""The demo's stage cache: a stage is done only for the same options; a change redoes it and
every stage after it; --force redoes all; a stage that fails leaves no marker."""

from __future__ import annotations

import json

import pytest

from dialogpt.demo.stages import describe_change, plan_stages, run_stages

NAMES = ("dumps", "extract", "prepro", "train", "report")


def options(data="dummy", model="tiny", steps=300):
    return {"dumps": {"data": data}, "extract": {"data": data}, "prepro": {"max_seq_len": 128},
            "train": {"model": model, "steps": steps, "flags": []}, "report": {}}


def stages(calls):
    def make(name):
        def stage(demo, results):
            calls.append(name)
            return {"made_by": name, "input": results.get("prepro", {}).get("made_by")}
        return stage
    return [(name, make(name)) for name in NAMES]


def test_the_same_options_skip_every_stage(tmp_path):
    calls = []
    run_stages(tmp_path, stages(calls), None, options(), force=False)
    assert calls == list(NAMES)
    calls.clear()
    results = run_stages(tmp_path, stages(calls), None, options(), force=False)
    assert calls == [] and results["train"]["made_by"] == "train"


@pytest.mark.parametrize("change, first_redone", [
    (dict(data="small"), "dumps"),     # python demo.py --data small after the default demo
    (dict(model="small"), "train"),    # python demo.py --model small
    (dict(steps=50), "train"),
])
def test_a_changed_option_redoes_its_stage_and_all_after_it(tmp_path, change, first_redone):
    calls, cleared = [], []
    run_stages(tmp_path, stages(calls), None, options(), force=False)
    calls.clear()
    run_stages(tmp_path, stages(calls), None, options(**change), force=False,
               before_redo=cleared.append)
    assert calls == list(NAMES[NAMES.index(first_redone):])
    assert cleared == calls  # each is cleared before it is redone
    plan = dict(plan_stages(tmp_path, NAMES, options(**change), force=False))
    assert all(why is None for why in plan.values())  # recorded: the next run skips all


def test_the_log_names_what_changed(tmp_path):
    run_stages(tmp_path, stages([]), None, options(), force=False)
    plan = dict(plan_stages(tmp_path, NAMES, options(model="small"), force=False))
    assert plan["train"] == "its options changed (model: 'tiny' -> 'small')"
    assert plan["report"] == "its input is new: stage train ran again"
    assert plan["dumps"] is None
    assert describe_change(None, {"a": 1}) == "recorded without its options"


def test_a_first_run_says_not_done_yet_for_every_stage(tmp_path, caplog):
    calls, cleared = [], []
    with caplog.at_level("INFO", logger="dialogpt.demo"):
        run_stages(tmp_path, stages(calls), None, options(), force=False,
                   before_redo=cleared.append)
    started = [r.getMessage() for r in caplog.records if "..." in r.getMessage()]
    assert started == [f"stage {name:<9} ... (not done yet)" for name in NAMES]
    assert cleared == list(NAMES[1:])  # after a stage that ran, stale outputs are still cleared


def test_a_stage_interrupted_after_its_input_changed_is_cleared_not_resumed(tmp_path):
    """Run 1 done; run 2 changes --model and is stopped during train (no marker), then run 3
    with new data: train says "not done yet" but starts afresh, as its input is new."""
    run_stages(tmp_path, stages([]), None, options(), force=False)
    (tmp_path / "train.json").unlink()
    (tmp_path / "report.json").unlink()
    plan = dict(plan_stages(tmp_path, NAMES, options(data="small"), force=False))
    assert plan["dumps"].startswith("its options changed") and plan["train"] == "not done yet"
    assert plan["extract"] == "its input is new: stage dumps ran again"
    cleared = []
    run_stages(tmp_path, stages([]), None, options(data="small"), force=False,
               before_redo=cleared.append)
    assert cleared == list(NAMES)
    (tmp_path / "train.json").unlink()  # stopped during train with the same inputs: resumes
    cleared.clear()
    run_stages(tmp_path, stages([]), None, options(data="small"), force=False,
               before_redo=cleared.append)
    assert cleared == ["report"]


def test_force_redoes_everything_and_old_markers_count_as_changed(tmp_path):
    calls = []
    run_stages(tmp_path, stages(calls), None, options(), force=False)
    calls.clear()
    run_stages(tmp_path, stages(calls), None, options(), force=True)
    assert calls == list(NAMES)
    (tmp_path / "train.json").write_text(json.dumps({"seconds": 1.0, "checkpoint": "x"}))
    plan = dict(plan_stages(tmp_path, NAMES, options(), force=False))
    assert plan["train"].startswith("its options changed (recorded without")


def test_a_failing_stage_leaves_no_marker(tmp_path):
    def boom(demo, results):
        raise RuntimeError("no")

    run_stages(tmp_path, stages([]), None, options(), force=False)
    broken = [(name, boom if name == "train" else stage) for name, stage in stages([])]
    with pytest.raises(RuntimeError):
        run_stages(tmp_path, broken, None, options(steps=1), force=False)
    assert not (tmp_path / "train.json").exists() and (tmp_path / "prepro.json").exists()


def test_an_interrupted_stage_resumes_but_not_after_a_redone_one(tmp_path):
    calls, cleared = [], []
    run_stages(tmp_path, stages(calls), None, options(), force=False)
    (tmp_path / "train.json").unlink()            # interrupted during training
    (tmp_path / "report.json").unlink()
    run_stages(tmp_path, stages(calls), None, options(), force=False,
               before_redo=cleared.append)
    assert cleared == ["report"]  # train resumes what it left; report follows a redone stage
    (tmp_path / "train.json").unlink()
    run_stages(tmp_path, stages(calls), None, options(), force=True, before_redo=cleared.append)
    assert cleared[1:] == list(NAMES)
