"""Fixtures of the convert_task.py tests: run the command in-process."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def convert(tmp_path):
    """``convert(task, input, *flags, out="out")`` -> the output folder (exit status 0 checked)."""
    from dialogpt.cli import run_main
    from dialogpt.data.tasks.cli import main

    def run(task: str, source: Path, *flags: str, out: str = "out") -> Path:
        output = tmp_path / out
        assert run_main(main, [task, "--input", str(source), "--output", str(output),
                               *flags]) == 0
        return output
    return run


@pytest.fixture
def convert_fails(tmp_path, capsys):
    """``convert_fails(task, input, *flags)`` -> the one-line error (exit status 2 checked)."""
    from dialogpt.cli import run_main
    from dialogpt.data.tasks.cli import main

    def run(task: str, source: Path, *flags: str, out: str = "out") -> str:
        capsys.readouterr()
        assert run_main(main, [task, "--input", str(source), "--output", str(tmp_path / out),
                               *flags]) == 2
        assert not (tmp_path / out).exists()
        return capsys.readouterr().err
    return run
