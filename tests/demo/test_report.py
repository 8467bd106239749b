"""The demo report without the optional matplotlib (``pip install -e ".[plot]"``)."""

from __future__ import annotations

import sys

from dialogpt.demo.report import plot_losses


def test_loss_curve_is_skipped_without_matplotlib(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)   # makes `import matplotlib` fail
    rows = [{"global_step": 1.0, "mean_loss": 2.0}]
    assert plot_losses(rows, [], tmp_path / "loss_curve.png") is False
    assert not (tmp_path / "loss_curve.png").exists()


def test_metrics_table_matches_batch_eval_and_says_why_meteor_is_missing(monkeypatch):
    from dialogpt.demo.report import metrics_table
    from dialogpt.evaluation import meteor

    metrics = {"nist2": 1.5, "nist4": 1.6, "bleu2": 0.1433, "bleu4": 0.0132, "meteor": None,
               "entropy4": 5.75, "dist1": 0.0258, "dist2": 0.0764, "avg_len": 10.6}
    monkeypatch.setattr(meteor.shutil, "which", lambda name: None)
    table = metrics_table(metrics)
    assert table[2] == ("| 1.5000 | 1.6000 | 14.33% | 1.32% | n/a | 5.7500 | 2.58% | 7.64% "
                        "| 10.6000 |")
    assert table[-1].startswith("METEOR n/a: java was not found on PATH")


def test_loss_curve_png_and_svg(tmp_path):
    import pytest
    pytest.importorskip("matplotlib")
    from dialogpt.demo.report import plot_losses

    rows = [{"global_step": 1, "loss": 3.0, "mean_loss": 3.0, "ppl": "nan"},
            {"global_step": 2, "loss": 2.0, "mean_loss": 2.5}]
    assert plot_losses(rows, [{"global_step": 2, "eval_loss": 2.2}], tmp_path / "loss_curve.png")
    assert (tmp_path / "loss_curve.png").read_bytes()[:4] == b"\x89PNG"
    assert "eval loss" in (tmp_path / "loss_curve.svg").read_text()
