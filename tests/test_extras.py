"""Every optional dependency, missing, is one line naming ``pip install -e ".[EXTRA]"``.

A missing package is simulated with ``sys.modules[name] = None`` (``import name`` then raises
``ImportError``), in-process with monkeypatch, and once through the real ``serve.py`` shim in a
subprocess, where the line must come before any model loads and without a traceback.
"""

from __future__ import annotations

import subprocess
import sys
import tomllib

import pytest

from dialogpt.cli import UserError
from dialogpt.extras import EXTRAS, check_installed, install_hint, require


@pytest.fixture(scope="module")
def extras(repo_root) -> dict[str, list[str]]:
    with open(repo_root / "pyproject.toml", "rb") as handle:
        return tomllib.load(handle)["project"]["optional-dependencies"]


def block(monkeypatch, *modules: str) -> None:
    for module in modules:
        monkeypatch.setitem(sys.modules, module, None)


@pytest.mark.parametrize("module", sorted(EXTRAS))
def test_each_optional_package_belongs_to_the_extra_that_installs_it(module, extras):
    extra, _ = EXTRAS[module]
    distribution = "tensorboard" if module == "torch.utils.tensorboard" else module
    assert any(dep.split(">")[0].split("=")[0].strip() == distribution
               for dep in extras[extra]), f"[{extra}] does not install {distribution}"


@pytest.mark.parametrize("module", sorted(EXTRAS))
def test_a_missing_package_is_one_line_naming_its_extra(module, monkeypatch):
    extra, name = EXTRAS[module]
    block(monkeypatch, module)
    with pytest.raises(UserError) as caught:
        require(module, "the feature", " (or do without)")
    assert str(caught.value) == (f'the feature needs {name}: pip install -e ".[{extra}]" '
                                 "(or do without)")
    with pytest.raises(UserError, match=r"^the feature needs .*\]\"$"):
        check_installed(module, "the feature")


def test_installed_modules_pass_and_the_hint_is_the_readmes_spelling(repo_root):
    assert require("json", "x").__name__ == "json"
    check_installed("json", "x")
    assert install_hint("serve") == 'pip install -e ".[serve]"'
    assert install_hint("serve") in (repo_root / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("module", ["fastapi", "uvicorn", "pydantic"])
def test_serve_says_so_before_loading_the_model(module, monkeypatch):
    from dialogpt.decoding import loading
    from dialogpt.serving import cli

    monkeypatch.setattr(loading, "load_decoder", lambda *args: pytest.fail("the model loaded"))
    block(monkeypatch, module)
    with pytest.raises(UserError) as caught:
        cli.main(["--model", "models/none", "--page", "false"])
    assert str(caught.value) == f'serve.py needs {module}: pip install -e ".[serve]"'


def test_the_chat_page_needs_gradio_and_page_false_does_without(monkeypatch):
    from dialogpt.serving import cli

    block(monkeypatch, "gradio")
    with pytest.raises(UserError) as caught:
        cli.require_serve_extra(page=True)
    assert str(caught.value) == ('serve.py\'s chat page needs gradio: pip install -e ".[serve]" '
                                 "(or --page false: the API alone)")
    cli.require_serve_extra(page=False)


def test_serve_shim_prints_one_line_and_no_traceback(repo_root):
    code = ("import runpy, sys; sys.modules['uvicorn'] = None; "
            "sys.argv = ['serve.py', '--model', 'models/no-such-model']; "
            "runpy.run_path('serve.py', run_name='__main__')")
    result = subprocess.run([sys.executable, "-c", code], cwd=repo_root, capture_output=True,
                            text=True, timeout=120, check=False)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        'error: serve.py needs uvicorn: pip install -e ".[serve]"']


def test_tensorboard_is_checked_with_the_flags_and_when_the_writer_opens(monkeypatch, tmp_path):
    from dialogpt.training.args import parse_args
    from dialogpt.training.tensorboard import TensorBoardLog

    message = ('--tensorboard needs the tensorboard package: pip install -e ".[tensorboard]" '
               "(or run without --tensorboard)")
    block(monkeypatch, "tensorboard", "torch.utils.tensorboard")
    with pytest.raises(UserError) as caught:
        parse_args(["--model_name_or_path", "configs/tiny", "--train_input_file", "db",
                    "--skip_eval", "--output_dir", str(tmp_path), "--tensorboard"])
    assert str(caught.value) == message
    with pytest.raises(UserError) as caught:
        TensorBoardLog(tmp_path)
    assert str(caught.value) == message


def test_gzip_falls_back_to_the_standard_library_without_isal(tmp_path):
    """``isal`` (the [fast] extra) only speeds gzip up: without it dumps still read."""
    import gzip

    path = tmp_path / "RC_2011-01.gz"
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.write('{"id": "a"}\n{"id": "b"}\n')
    code = ("import sys; sys.modules['isal'] = None; "
            "from dialogpt.extraction import readers; "
            "print(readers._gzip.__name__, list(readers.iter_lines(sys.argv[1])))")
    result = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True,
                            text=True, timeout=120, check=True)
    assert result.stdout.split(" ", 1) == ["gzip", "[b'{\"id\": \"a\"}', b'{\"id\": \"b\"}']\n"]


@pytest.mark.parametrize("module, function, args, message", [
    ("peft", "dialogpt.training.lora:import_peft", (),
     'LoRA needs the peft package: pip install -e ".[lora]"'),
    ("datasets", "dialogpt.data.tasks.chat_columns:load_table", ("chats.csv", "cache"),
     'reading CSV/Parquet/column tables needs the datasets package: pip install -e ".[tasks]"'),
    ("matplotlib", "dialogpt.plot:_pyplot", (),
     'plotting needs matplotlib: pip install -e ".[plot]"'),
    ("ray", "dialogpt.ray_support:import_ray", ("EXECUTOR=ray",),
     'EXECUTOR=ray needs Ray: pip install -e ".[cluster]"'),
])
def test_each_feature_that_needs_an_extra_says_which(module, function, args, message,
                                                     monkeypatch, tmp_path):
    import importlib
    from pathlib import Path

    where, name = function.split(":")
    call = getattr(importlib.import_module(where), name)
    block(monkeypatch, module)
    with pytest.raises(UserError) as caught:
        call(*[Path(tmp_path / arg) if arg.endswith(".csv") else arg for arg in args])
    assert str(caught.value) == message
