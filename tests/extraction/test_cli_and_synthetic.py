"""The conv stage's help, and the synthetic generator's determinism (every stage's --help is
checked, with the other entry points, by tests/test_entry_points.py)."""

from __future__ import annotations

import pytest

from dialogpt.extraction.synthetic import write_synthetic_keys, write_synthetic_month


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
