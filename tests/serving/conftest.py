"""A tiny random GPT-2 (real GPT-2 vocabulary) served live by uvicorn on 127.0.0.1, a free port."""

from __future__ import annotations

from pathlib import Path

import pytest
from serving_helpers import live_server
from tiny_models import save_tiny_gpt2, save_tiny_t5


@pytest.fixture(scope="session")
def tiny_gpt2_dir(tmp_path_factory) -> Path:
    return save_tiny_gpt2(tmp_path_factory.mktemp("serve_tiny"), seed=3)


@pytest.fixture(scope="session")
def tiny_reverse_dir(tmp_path_factory) -> Path:
    return save_tiny_gpt2(tmp_path_factory.mktemp("serve_tiny_reverse"), seed=4)


@pytest.fixture(scope="session")
def server(tiny_gpt2_dir):
    """The tiny model behind the API (no page), greedy by default, max 16 new tokens."""
    with live_server(["--model", str(tiny_gpt2_dir), "--max_length", "16",
                      "--api_key", "test-key", "--max_request_bytes", "4096"]) as live:
        yield live


@pytest.fixture
def client(server):
    from openai import OpenAI

    return OpenAI(base_url=server.api, api_key="test-key", max_retries=0, timeout=60)


@pytest.fixture(scope="session")
def tiny_t5_serve_dir(tmp_path_factory, t5_tokenizer_dir) -> Path:
    return save_tiny_t5(tmp_path_factory.mktemp("serve_t5"), t5_tokenizer_dir, seed=5)
