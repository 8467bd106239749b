"""Helpers of the serving tests: a live server on 127.0.0.1 (tiny models: ``tests/tiny_models.py``)."""

from __future__ import annotations

import socket
import threading
import time
from contextlib import contextmanager


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
    from dialogpt.serving.cli import build_state as build
    from dialogpt.serving.cli import parse_command

    command = parse_command(argv)
    return build(command.decoder.load(), command.server, command.decoder.spec.model), \
        command.server


@contextmanager
def live_server(argv: list[str], page: bool = False):
    """``serve.py ARGV`` running in this process (uvicorn in a thread) until the block ends."""
    import uvicorn

    from dialogpt.serving.app import create_app
    from dialogpt.serving.cli import connection_limits
    from dialogpt.serving.connections import uvicorn_settings

    state, config = build_state([*argv, "--device", "cpu"])
    state.batcher.start()
    app = create_app(state, page=page, body_timeout=config.body_timeout)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           **uvicorn_settings(connection_limits(config))))
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

