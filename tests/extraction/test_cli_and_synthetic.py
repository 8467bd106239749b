"""Every stage's --help, and the synthetic generator's determinism."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from dialogpt.extraction.synthetic import write_synthetic_keys, write_synthetic_month

STAGES = ["extract", "conv", "merge", "multiref", "summary", "fetch"]


@pytest.mark.parametrize("stage", STAGES)
def test_help_is_fast_and_lists_defaults(stage, repo_root):
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", f"dialogpt.extraction.{stage}", "--help"],
                            capture_output=True, text=True, cwd=repo_root, timeout=30)
    assert result.returncode == 0, result.stderr
    assert time.perf_counter() - start < 2.0
    assert "usage:" in result.stdout


def test_conv_help_shows_defaults(repo_root):
    from dialogpt.extraction.conv import build_parser
    text = build_parser().format_help()
    assert "--max_depth" in text and "(default: 5)" in text


@pytest.mark.parametrize("compression", ["zst", "gz", ""])
def test_synthetic_month_is_deterministic(tmp_path, compression):
    first = write_synthetic_month(tmp_path / "a", "2011-01", 50, seed=3, compression=compression)
    second = write_synthetic_month(tmp_path / "b", "2011-01", 50, seed=3, compression=compression)
    assert first.rc_path.read_bytes() == second.rc_path.read_bytes()
    assert first.rs_path.read_bytes() == second.rs_path.read_bytes()
    keys_a = write_synthetic_keys(tmp_path / "ka", "2011-01", tmp_path / "a", seed=3)
    keys_b = write_synthetic_keys(tmp_path / "kb", "2011-01", tmp_path / "b", seed=3)
    assert [p.read_bytes() for p in keys_a] == [p.read_bytes() for p in keys_b]
