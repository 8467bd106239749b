"""The demo report without the optional matplotlib (``pip install "dialogpt-lsp[plot]"``)."""

from __future__ import annotations

import sys

from dialogpt.demo.report import plot_losses


def test_loss_curve_is_skipped_without_matplotlib(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)   # makes `import matplotlib` fail
    rows = [{"global_step": 1.0, "mean_loss": 2.0}]
    assert plot_losses(rows, [], tmp_path / "loss_curve.png") is False
    assert not (tmp_path / "loss_curve.png").exists()
