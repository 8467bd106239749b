"""``python -m dialogpt.plot``: the curves of one or several runs, PNG and SVG."""

from __future__ import annotations

import json
import math

import pytest

from dialogpt.cli import run_main
from dialogpt.plot import curves, main, read_run


def write_run(folder, losses, eval_losses, jsonl=True):
    folder.mkdir(parents=True)
    if jsonl:
        rows = [{"global_step": step, "loss": loss, "ppl": math.exp(loss), "mean_loss": loss + 0.1,
                 "mean_ppl": math.exp(loss + 0.1)} for step, loss in enumerate(losses, start=1)]
        rows[-1]["loss"] = "nan"  # JSON has no NaN: the trainer writes it as a string
        (folder / "train_log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        evals = [{"global_step": step, "eval_loss": loss, "eval_ppl": math.exp(loss)}
                 for step, loss in eval_losses]
        (folder / "eval_log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in evals))
    else:  # the original's CSV columns only
        lines = ["epoch,global_step,step,mean_loss,mean_ppl,n_token_real,n_token_total,epoch_time"]
        lines += [f"1,{step},{step},{loss},{math.exp(loss)},10,12,0.1"
                  for step, loss in enumerate(losses, start=1)]
        (folder / "train_log.txt").write_text("\n".join(lines) + "\n")
        lines = ["epoch,global_step,step,eval_loss,eval_ppl"]
        lines += [f"1,{step},{step},{loss},{math.exp(loss)}" for step, loss in eval_losses]
        (folder / "eval_log.txt").write_text("\n".join(lines) + "\n")
    return folder


def test_series_come_from_the_logs(tmp_path):
    run = read_run(write_run(tmp_path / "a", [3.0, 2.0, 1.5], [(0, 3.2), (3, 1.6)]))
    series = curves(run)
    assert series["train loss"] == ([1.0, 2.0], [3.0, 2.0])  # the NaN row is left out
    assert series["train mean_loss"] == ([1.0, 2.0, 3.0], [3.1, 2.1, 1.6])
    assert series["eval loss"] == ([0.0, 3.0], [3.2, 1.6])
    assert series["eval ppl"][1] == pytest.approx([math.exp(3.2), math.exp(1.6)])


def test_original_csv_logs_and_demo_folders(tmp_path):
    write_run(tmp_path / "demo" / "train", [2.0, 1.0], [(2, 1.2)], jsonl=False)
    series = curves(read_run(tmp_path / "demo"))
    assert series["train mean_loss"] == ([1.0, 2.0], [2.0, 1.0])
    assert series["eval ppl"] == ([2.0], [pytest.approx(math.exp(1.2))])
    assert "train loss" not in series  # the CSV has no per-step loss


def test_several_runs_overlaid_in_png_and_svg(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    a = write_run(tmp_path / "x" / "run", [3.0, 2.0], [(2, 2.5)])
    b = write_run(tmp_path / "y" / "run", [4.0, 3.0], [(2, 3.5)])
    out = tmp_path / "cmp"
    assert run_main(main, [str(a), str(b), "--out", str(out)]) == 0
    assert (tmp_path / "cmp.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    svg = (tmp_path / "cmp.svg").read_text()
    assert "x/run: eval loss" in svg and "y/run: train mean_ppl" in svg  # distinct labels
    assert str(out) + ".png" in capsys.readouterr().out


def test_several_runs_without_out_write_beside_the_first_not_here(tmp_path, monkeypatch,
                                                                  capsys):
    pytest.importorskip("matplotlib")
    a = write_run(tmp_path / "x" / "run", [3.0, 2.0], [(2, 2.5)])
    b = write_run(tmp_path / "y" / "run", [4.0, 3.0], [(2, 3.5)])
    here = tmp_path / "cwd"
    here.mkdir()
    monkeypatch.chdir(here)
    assert run_main(main, [str(a), str(b), "--formats", "svg"]) == 0
    assert capsys.readouterr().out.split() == [str(a / "curves.svg")]
    assert "y/run: eval loss" in (a / "curves.svg").read_text()
    assert list(here.iterdir()) == [] and not (b / "curves.svg").exists()


def test_missing_logs_and_missing_dirs_are_clear(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert run_main(main, [str(tmp_path / "empty")]) == 2
    assert "holds no training logs" in capsys.readouterr().err
    assert run_main(main, [str(tmp_path / "nope")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_without_matplotlib_says_how_to_install(tmp_path, monkeypatch, capsys):
    import sys

    run = write_run(tmp_path / "a", [3.0, 2.0], [])
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    assert run_main(main, [str(run)]) == 2
    assert 'plotting needs matplotlib: pip install -e ".[plot]"' in capsys.readouterr().err
