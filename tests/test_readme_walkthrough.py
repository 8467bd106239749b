"""The README's newcomer path, run exactly as printed in a fresh clone (slow; CI runs it).

The commands are read from the README between ``<!-- walkthrough:start -->`` and
``<!-- walkthrough:end -->``: every line of its ``bash`` blocks (backslash continuations joined),
in order, in a ``git clone`` of this repository. The set-up command (virtualenv and ``pip
install``) runs only with ``FRESH_CLONE_INSTALL=1`` (it downloads about 1 GB); otherwise the
running interpreter's environment stands in for it and the rest of the line (``python demo.py``)
runs. A command that reads the terminal (``interact.py``) gets ``hello`` and ``/quit`` on stdin.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest


START, END = "<!-- walkthrough:start -->", "<!-- walkthrough:end -->"
SETUP = re.compile(r"^python3 -m venv .*?&& pip install (-c \S+ )?-e \S+ && ")


def walkthrough_commands(readme: str) -> list[str]:
    """The shell commands of the walkthrough section, continuation lines joined."""
    if START not in readme or END not in readme:
        raise AssertionError("README.md has no walkthrough section")
    section = readme.split(START, 1)[1].split(END, 1)[0]
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", section, flags=re.S):
        pending = ""
        for line in block.splitlines():
            line = line.split("  # ")[0].rstrip() if "  # " in line else line.rstrip()
            if line.endswith("\\"):
                pending += line[:-1].strip() + " "
                continue
            command = (pending + line.strip()).strip()
            pending = ""
            if command and not command.startswith("#"):
                commands.append(command)
    return commands


def test_walkthrough_parses(repo_root):
    commands = walkthrough_commands((repo_root / "README.md").read_text(encoding="utf-8"))
    assert commands[0].endswith("python demo.py") and SETUP.match(commands[0])
    assert any("make_refs.py" in c for c in commands)
    assert any("--mmi_model" in c for c in commands)
    assert any(c.startswith("python batch_eval.py") for c in commands)


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_walkthrough_runs_verbatim_in_a_fresh_clone(repo_root, tmp_path):
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(repo_root), str(clone)], check=True)
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    env.pop("PYTHONPATH", None)
    install = os.environ.get("FRESH_CLONE_INSTALL") == "1"
    timings = []
    for command in walkthrough_commands((clone / "README.md").read_text(encoding="utf-8")):
        if not install:
            command = SETUP.sub("", command)
        stdin = "hello\n/quit\n" if command.startswith("python interact.py") else ""
        start = time.perf_counter()
        result = subprocess.run(["bash", "-c", command], cwd=clone, env=env, input=stdin,
                                capture_output=True, text=True, timeout=1800, check=False)
        timings.append(f"{time.perf_counter() - start:7.1f} s  {command[:90]}")
        assert result.returncode == 0, (f"`{command}` failed ({result.returncode}):\n"
                                        f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
        assert "Traceback" not in result.stderr, result.stderr[-3000:]
    print("\n".join(timings))
