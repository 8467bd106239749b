"""``serve.py`` flags -> ``ServeConfig``; bad values are user errors naming the flag."""

from __future__ import annotations

import pytest

from dialogpt.cli import UserError
from dialogpt.serving.cli import API_KEY_ENV, ServeConfig, parse_command
from dialogpt.serving.safety import DEFAULT_BLOCKLIST


def config(argv, monkeypatch=None) -> ServeConfig:
    return parse_command(["--model", "m", *argv]).server


def test_defaults_bind_localhost_without_key(monkeypatch):
    monkeypatch.delenv(API_KEY_ENV, raising=False)
    cfg = config([])
    assert (cfg.host, cfg.port, cfg.api_key, cfg.safe) == ("127.0.0.1", 8000, None, None)
    assert cfg.max_request_bytes == 1 << 20 and cfg.max_batch_size == 32 and cfg.page


def test_api_key_from_flag_or_environment(monkeypatch):
    monkeypatch.setenv(API_KEY_ENV, "from-env")
    assert config([]).api_key == "from-env"
    assert config(["--api_key", "flag"]).api_key == "flag"


def test_bare_safe_uses_the_builtin_list():
    assert config(["--safe"]).safe == str(DEFAULT_BLOCKLIST)
    with pytest.raises(UserError, match="--safe mine.txt: no such blocklist file"):
        config(["--safe", "mine.txt", "--port", "9"])


@pytest.mark.parametrize("argv, words", [
    (["--max_batch_size", "0"], "--max_batch_size"), (["--port", "70000"], "--port"),
    (["--max_request_bytes", "10"], "--max_request_bytes"), (["--max_queue", "0"], "--max_queue"),
])
def test_bad_values(argv, words):
    with pytest.raises(UserError, match=words):
        config(argv)


def test_threads_default_to_every_core_the_process_may_use(monkeypatch):
    """``dialogpt.cli.usable_cores``: the affinity where the OS has one, else the core count."""
    import os

    from dialogpt.serving.cli import torch_threads

    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 3, 5}, raising=False)
    assert torch_threads(0) == 3
    assert torch_threads(1) == 1
    monkeypatch.delattr(os, "sched_getaffinity", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 4)
    assert torch_threads(0) == 4
