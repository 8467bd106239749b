"""The start-up outlook: peak learning-rate steps and times worked out by hand."""

from __future__ import annotations

import pytest

from dialogpt.training.plan_report import (cpu_suggestion, first_multiple_after,
                                           format_duration, outlook_lines, peak_step)


@pytest.mark.parametrize("schedule, warmup, proportion, total, expected", [
    ("noam", 16_000, 0.1, 1_000_000, 16_000),
    ("noam", 16_000, 0.1, 100, 100),           # the run ends during the warm-up
    # noamwd halves at steps 500, 1500, ...: 499 * 1 < 1499 * 0.5 = 749.5 > 2499 * 0.25
    ("noamwd", 16_000, 0.1, 1_000_000, 1499),
    # BERT, p = 0.1 of 1000: (s-1)/100 up to s = 100 (0.99), then (1 - 0.1) / 0.9 = 1 at 101
    ("BERT", 16_000, 0.1, 1000, 101),
    ("None", 16_000, 0.1, 1000, 1),
])
def test_peak_step(schedule, warmup, proportion, total, expected):
    assert peak_step(schedule, warmup, proportion, total, n_embd=768) == expected


def test_the_original_defaults_on_cpu_in_numbers():
    lines = outlook_lines(total_steps=1_000_000, done_steps=0, seconds_per_step=3.6,
                          schedule="noam", warmup_steps=16_000, warmup_proportion=0.1,
                          base_lr=1e-5, n_embd=768, save_step=10_000, valid_step=10_000,
                          skip_eval=False)
    # 1e6 steps * 3.6 s = 3.6e6 s = 41.7 days; the peak at 16,000 steps = 57,600 s = 16.0 h;
    # lr at step 1 = 1e-5 * 1e4 * 768^-0.5 * 16000^-1.5 = 1.78e-09; peak 1e-1 * 768^-0.5 *
    # 16000^-0.5 = 2.85e-05; the first checkpoint at 10,000 steps = 36,000 s = 10.0 h.
    assert lines == [
        "plan: 1,000,000 optimizer steps, 1,000,000 to go: 41.7 days at the measured 3.6 s/step",
        "learning rate: 1.78e-09 at step 1, rising to its peak 2.85e-05 at step 16,000 "
        "(in 16.0 h) (--lr_schedule noam, --warmup_steps/--warmup_proportion)",
        "next checkpoint: step 10,000 (in 10.0 h) (--save_step)",
        "next evaluation: step 10,000 (in 10.0 h) (--valid_step)"]


def test_before_measuring_and_when_resuming_past_the_peak():
    lines = outlook_lines(total_steps=300, done_steps=250, seconds_per_step=None,
                          schedule="noam", warmup_steps=100, warmup_proportion=0.1,
                          base_lr=1e-4, n_embd=64, save_step=1000, valid_step=100,
                          skip_eval=True)
    assert lines[0] == "plan: 300 optimizer steps, 50 to go"
    assert lines[1].startswith("learning rate: ") and "past its peak" in lines[1]
    assert lines[2] == "checkpoint: at the end, step 300 (--save_step 1000 is past it)"
    assert len(lines) == 3  # --skip_eval: no evaluation line


def test_cpu_suggestion():
    text = cpu_suggestion(device_type="cpu", total_steps=1_000_000, done_steps=0,
                          seconds_per_step=3.6, n_params=124_000_000)
    assert "41.7 days on CPU" in text and "configs/tiny" in text
    assert "--num_optim_steps 2000 --warmup_steps 200 --valid_step 500 --save_step 500" in text
    assert "about 2.0 h at this speed" in text  # 2000 steps * 3.6 s
    assert cpu_suggestion(device_type="cuda", total_steps=1_000_000, done_steps=0,
                          seconds_per_step=3.6, n_params=124_000_000) is None
    assert cpu_suggestion(device_type="cpu", total_steps=300, done_steps=0,
                          seconds_per_step=0.5, n_params=1_000_000) is None


def test_helpers():
    assert [format_duration(s) for s in (45, 600, 7200, 3.6e6)] == \
        ["45 s", "10 min", "2.0 h", "41.7 days"]
    assert first_multiple_after(0, 10_000, 1_000_000) == 10_000
    assert first_multiple_after(10_000, 10_000, 15_000) is None
    assert first_multiple_after(5, 0, 100) is None


def test_outlook_speaks_at_start_then_once_measured():
    from types import SimpleNamespace

    from dialogpt.training.plan_report import Outlook

    config = SimpleNamespace(num_optim_steps=1_000_000, lr_schedule="noam", warmup_steps=16_000,
                             warmup_proportion=0.1, learning_rate=1e-5, save_every=10_000,
                             valid_step=10_000, skip_eval=False)
    outlook = Outlook(config, n_embd=768, device_type="cpu", n_params=124_000_000,
                      done_steps=0, done_seconds=0.0, measure_steps=20, measure_seconds=30.0)
    assert outlook.at_start()[0] == "plan: 1,000,000 optimizer steps, 1,000,000 to go"
    assert outlook.after_step(5, 18.0) == []                 # neither 20 steps nor 30 s yet
    lines = outlook.after_step(10, 36.0)                     # 30 s passed: 3.6 s/step
    assert lines[0] == ("measured over 10 steps: plan: 1,000,000 optimizer steps, 999,990 to "
                        "go: 41.7 days at the measured 3.6 s/step")
    assert "configs/tiny" in lines[-1]
    assert outlook.after_step(20, 72.0) == []                # said once


@pytest.mark.parametrize("load, cores, threads, busy", [
    (1.9, 2, 2, False),   # this run alone on an idle 2-core box
    (2.9, 2, 2, False),   # 0.9 of a core elsewhere: under one core
    (3.0, 2, 2, True),    # one core's worth of other work
    (10.5, 2, 2, True),   # the loaded shared box of the demo's slow ETA
    (5.0, 16, 1, False),  # 4 other processes on 16 cores: under half of them
    (9.0, 16, 1, True),   # 8 = half of 16 cores
])
def test_busy_note_when_other_work_holds_a_core(load, cores, threads, busy):
    from dialogpt.training.plan_report import busy_note

    note = busy_note(load, cores, threads)
    assert (note is not None) == busy
    if busy:
        assert note.startswith(f"this machine is busy (load average {load:.1f} on {cores} cores")
        assert "idle 2-core box" in note and "\n" not in note


def test_a_busy_cpu_is_said_with_the_measured_plan_before_the_cpu_plan(monkeypatch):
    from types import SimpleNamespace

    from dialogpt.training import plan_report as module

    config = SimpleNamespace(num_optim_steps=300, lr_schedule="noam", warmup_steps=50,
                             warmup_proportion=0.1, learning_rate=1e-5, save_every=300,
                             valid_step=100, skip_eval=False)

    def measured(device_type, load):
        monkeypatch.setattr(module, "cpu_load", lambda: load)
        outlook = module.Outlook(config, n_embd=32, device_type=device_type, n_params=10_000,
                                 done_steps=0, done_seconds=0.0)
        return outlook.after_step(20, 40.0)  # 2 s/step: 280 steps to go = 9 min

    busy = measured("cpu", (10.5, 2, 2))
    assert busy[0].endswith("280 to go: 9 min at the measured 2 s/step")
    assert busy[-1].startswith("this machine is busy (load average 10.5 on 2 cores")
    assert not any("busy" in line for line in measured("cpu", (1.9, 2, 2)))
    assert not any("busy" in line for line in measured("cpu", None))   # no load average here
    assert not any("busy" in line for line in measured("cuda", (10.5, 2, 2)))
    here = module.cpu_load()  # this machine's own figures, of the right kinds
    assert here is None or (here[0] >= 0 and here[1] >= 1 and here[2] >= 1)
