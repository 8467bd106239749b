"""Every entry point: ``--help`` documents every flag, and stays fast (no torch/transformers)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

ENTRY_POINTS = ["LSP_train.py", "prepro.py", "demo.py", "demo_utils.py", "batch_eval.py",
                "interact.py", "generate.py", "convert_checkpoint.py", "make_refs.py", "plot.py",
                "serve.py", "convert_task.py"]
# Stages run as ``python -m MODULE`` (the extractor's Makefile calls them so).
ENTRY_POINTS += [f"dialogpt.extraction.{stage}"
                 for stage in ("extract", "conv", "merge", "multiref", "summary", "fetch")]

_PROBE = r"""
import argparse, json, runpy, sys
parsers = []
original = argparse.ArgumentParser.parse_known_args
def spy(self, args=None, namespace=None):
    parsers.append(self)
    return original(self, args, namespace)
argparse.ArgumentParser.parse_known_args = spy
script = sys.argv[1]
sys.argv = [script, "--help"]
import io, contextlib
out = io.StringIO()
with contextlib.redirect_stdout(out):
    try:
        if script.endswith(".py"):
            runpy.run_path(script, run_name="__main__")
        else:
            runpy.run_module(script, run_name="__main__", alter_sys=True)
    except SystemExit:
        pass
undocumented = [action.dest for parser in parsers for action in parser._actions
                if not isinstance(action, argparse._HelpAction) and not (action.help or "").strip()]
print(json.dumps({"parsers": len(parsers), "undocumented": undocumented,
                  "heavy": [m for m in ("torch", "transformers") if m in sys.modules],
                  "subcommands": any(isinstance(action, argparse._SubParsersAction)
                                     for parser in parsers for action in parser._actions),
                  "help": out.getvalue()}))
"""


@pytest.mark.parametrize("script", ENTRY_POINTS)
def test_help_documents_every_flag_without_heavy_imports(repo_root, script):
    result = subprocess.run([sys.executable, "-c", _PROBE, script], cwd=repo_root,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    probe = json.loads(result.stdout.strip().splitlines()[-1])
    assert probe["parsers"] >= 1, f"{script} --help built no argparse parser"
    assert probe["undocumented"] == [], f"{script}: flags without help text"
    assert probe["heavy"] == [], f"{script} --help imports {probe['heavy']}: import them lazily"
    # (a command with sub-commands lists them; each sub-command's --help prints its defaults)
    assert "(default:" in probe["help"] or probe["subcommands"], \
        f"{script} --help prints no defaults"


def test_console_scripts_end_a_bad_command_in_one_error_line(repo_root, tmp_path, monkeypatch,
                                                            capsys):
    """Each ``[project.scripts]`` target goes through ``run_main``: exit 2 and one ``error:``
    line for a missing input, never a traceback."""
    import importlib
    import tomllib

    scripts = tomllib.loads((repo_root / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts
    for name, target in scripts.items():
        module, _, function = target.partition(":")
        monkeypatch.setattr(sys, "argv", [name, "--checkpoint", str(tmp_path / "missing.pkl"),
                                          "--output_dir", str(tmp_path / "out")])
        assert getattr(importlib.import_module(module), function)() == 2, name
        err = capsys.readouterr().err
        assert err.startswith("error: ") and err.count("\n") == 1, (name, err)
