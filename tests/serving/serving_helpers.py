"""Helpers of the serving tests: tiny random models saved to disk, a live server on 127.0.0.1."""

from __future__ import annotations

import socket
import threading
import time
from contextlib import contextmanager
from pathlib import Path

TINY_POSITIONS = 64


def save_tiny_gpt2(directory: Path, seed: int, n_positions: int = TINY_POSITIONS) -> Path:
    """As ``tests/decoding``: 2 layers, 32 wide, a large init range so greedy replies vary."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    from dialogpt.tokenization import load_tokenizer

    torch.manual_seed(seed)
    config = GPT2Config(n_embd=32, n_layer=2, n_head=2, n_positions=n_positions,
                        initializer_range=0.3)
    GPT2LMHeadModel(config).save_pretrained(directory)
    load_tokenizer().save_pretrained(directory)
    return directory


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LiveServer:
    def __init__(self, state, server, thread, port: int) -> None:
        self.state = state
        self.server = server
        self.thread = thread
        self.port = port
        self.url = f"http://127.0.0.1:{port}"

    @property
    def api(self) -> str:
        return self.url + "/v1"


def build_state(argv: list[str]):
    """Parse ``serve.py`` flags and build the server state (worker not started)."""
    from dialogpt.decoding.loading import load_decoder
    from dialogpt.serving.cli import ServeConfig, build_parser
    from dialogpt.serving.cli import build_state as build

    args = build_parser().parse_args(argv)
    config = ServeConfig.from_args(args)
    return build(load_decoder(args), config, args.model), config


@contextmanager
def live_server(argv: list[str], page: bool = False):
    """``serve.py ARGV`` running in this process (uvicorn in a thread) until the block ends."""
    import uvicorn

    from dialogpt.serving.app import create_app

    state, _config = build_state([*argv, "--device", "cpu"])
    state.batcher.start()
    app = create_app(state, page=page)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield LiveServer(state, server, thread, port)
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        state.batcher.stop()


def save_tiny_t5(directory: Path, tokenizer_dir: Path, seed: int = 5) -> Path:
    """``configs/t5-tiny`` with random weights and the shared offline SentencePiece tokenizer
    (a large initializer, so that greedy replies depend on the source)."""
    import torch
    from transformers import T5ForConditionalGeneration

    from dialogpt.modeling import read_model_config
    from dialogpt.tokenization import load_tokenizer

    config = read_model_config(Path(__file__).resolve().parents[2] / "configs" / "t5-tiny")
    tokenizer = load_tokenizer(str(tokenizer_dir))
    config.vocab_size = -(-len(tokenizer) // 64) * 64
    config.initializer_factor = 20.0
    torch.manual_seed(seed)
    T5ForConditionalGeneration(config).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory
