"""Hub ids without a network fail fast with one clear line; a wrong local path says so."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from dialogpt import hub
from dialogpt.cli import UserError


@pytest.fixture
def no_network(monkeypatch):
    """The Hub endpoint is a closed port on 127.0.0.1 (connection refused at once); offline
    mode starts off and is restored afterwards."""
    import huggingface_hub.constants as constants

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(hub, "_WENT_OFFLINE", {})
    hub._probe.cache_clear()
    yield port
    hub._probe.cache_clear()


@pytest.mark.parametrize("name, local", [
    ("microsoft/DialoGPT-small", False), ("gpt2", False), ("./models/run", True),
    ("/abs/run", True), ("~/run", True), ("models/run/checkpoint-step-5", True),
    ("run/", True), ("tests/nonexistent", True),  # tests/ exists here: a local folder
])
def test_local_paths_are_told_from_hub_ids(name, local):
    assert hub.looks_local(name) is local


def test_wrong_local_path_says_the_directory_does_not_exist():
    from dialogpt.decoding.loading import resolve_tokenizer_source
    from dialogpt.modeling import load_model
    from dialogpt.tokenization import load_tokenizer

    wrong = "models/no-such-run/checkpoint-step-5"
    for load in (lambda: load_model(wrong),
                 lambda: load_tokenizer(resolve_tokenizer_source(wrong, None))):
        with pytest.raises(UserError, match=f"directory {wrong} does not exist"):
            load()


def test_unreachable_hub_is_detected_once_and_turns_offline_mode_on(no_network):
    import huggingface_hub.constants as constants

    assert hub.check_hub_id("microsoft/DialoGPT-small") is not None
    assert f"127.0.0.1:{no_network}" in hub.check_hub_id("gpt2")
    assert hub._probe.cache_info().misses == 1  # one connect per process
    assert constants.HF_HUB_OFFLINE is True  # a cached copy would load without retries


def test_offline_model_is_one_clear_line(no_network):
    from dialogpt.modeling import load_model

    with pytest.raises(UserError) as info:
        load_model("microsoft/DialoGPT-small")
    message = str(info.value)
    assert "\n" not in message
    for part in ("Hugging Face Hub is unreachable", "HF_HUB_OFFLINE=1",
                 "`hf download microsoft/DialoGPT-small --local-dir models/DialoGPT-small`",
                 "could not load model 'microsoft/DialoGPT-small'"):
        assert part in message


def test_offline_tokenizer_says_the_model_is_missing(no_network):
    from dialogpt.tokenization import load_tokenizer

    with pytest.raises(UserError, match="tokenizer of 'microsoft/DialoGPT-small': the model is "
                                        "not available.*unreachable.*hf download microsoft/"
                                        "DialoGPT-small --local-dir DIR.*gpt2-bpe"):
        load_tokenizer("microsoft/DialoGPT-small")


def test_the_advised_download_command_exists_in_the_installed_huggingface_hub(repo_root):
    """``huggingface-cli`` is gone from current huggingface_hub; ``hf download`` replaced it.
    The command the messages advise parses with the installed CLI, and nothing advises the old
    one (README, docs, messages, tests)."""
    import shutil
    import subprocess
    import sys

    command = hub.download_command("microsoft/DialoGPT-small", "models/x").split()
    assert command[:2] == ["hf", "download"]
    hf = shutil.which("hf", path=str(Path(sys.executable).parent)) or shutil.which("hf")
    if hf is None:
        pytest.skip("huggingface_hub's hf CLI is not on PATH")
    result = subprocess.run([hf, "download", "--help"], capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 0 and "--local-dir" in result.stdout
    advised = [str(path.relative_to(repo_root)) for folder in ("dialogpt", "docs", "tests")
               for path in (repo_root / folder).rglob("*.*")
               if path.suffix in (".py", ".md") and path.name != "test_hub.py"
               and "huggingface-cli download" in path.read_text(encoding="utf-8")]
    readme = (repo_root / "README.md").read_text(encoding="utf-8")
    assert advised == [] and "huggingface-cli download" not in readme


def test_hf_hub_offline_skips_the_network_check(monkeypatch):
    def no_probe(*args):
        raise AssertionError("probed the network in offline mode")

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(hub, "_probe", no_probe)
    monkeypatch.setattr(hub, "_WENT_OFFLINE", {})
    assert hub.check_hub_id("microsoft/DialoGPT-small") == "HF_HUB_OFFLINE is set"


def test_require_hub_id_fails_at_once_unless_cached(no_network, monkeypatch):
    with pytest.raises(UserError, match="could not load model 'microsoft/DialoGPT-small'"):
        hub.require_hub_id("microsoft/DialoGPT-small")
    monkeypatch.setattr(hub, "is_cached", lambda name: True)
    hub.require_hub_id("microsoft/DialoGPT-small")  # cached: offline mode will load it
