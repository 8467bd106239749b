"""Progress of a month's dump reading: bar, periodic lines under make -j, or nothing."""

from __future__ import annotations

import io
import logging

import pytest

from dialogpt.extraction.progress import choose_mode, parallel_make, tracked
from dialogpt.extraction.readers import ReadStats, iter_lines
from dialogpt.extraction.synthetic import write_synthetic_month


@pytest.mark.parametrize("flags, parallel", [
    ("", False), ("-j8 --jobserver-auth=3,4", True), ("j", True), ("kw -j", True),
    ("kw", False), ("w -- JOBS=4 MAJOR=j", False), ("-k --no-print-directory", False),
])
def test_parallel_make_is_read_from_makeflags(monkeypatch, flags, parallel):
    monkeypatch.setenv("MAKEFLAGS", flags)
    assert parallel_make() is parallel


class _Tty(io.StringIO):
    def isatty(self):
        return True


def test_mode_follows_the_terminal_and_make(monkeypatch):
    monkeypatch.setenv("MAKEFLAGS", "")
    assert choose_mode(io.StringIO()) == "off" and choose_mode(_Tty()) == "bar"
    monkeypatch.setenv("MAKEFLAGS", "-j4")
    assert choose_mode(_Tty()) == "lines"


@pytest.mark.parametrize("mode", ["off", "bar", "lines"])
def test_lines_pass_through_unchanged(tmp_path, caplog, monkeypatch, mode):
    from dialogpt.extraction import progress

    monkeypatch.setattr(progress, "_EVERY_LINES", 10)
    month = write_synthetic_month(tmp_path, "2011-01", 50, seed=0)
    expected = list(iter_lines(month.rc_path))
    stats = ReadStats()
    with caplog.at_level(logging.INFO, logger="dialogpt.extraction.progress"):
        got = list(tracked(iter_lines(month.rc_path, stats), month.rc_path, stats, mode=mode,
                           interval=0.0))
    assert got == expected and stats.lines == len(expected)
    logged = [r.getMessage() for r in caplog.records]
    assert len(expected) > 10
    if mode == "lines":
        assert logged and logged[0].startswith(month.rc_path.name) and "% of" in logged[0]
    if mode == "off":
        assert logged == []
