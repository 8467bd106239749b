"""``serve.py``: flags, the typed server configuration, and start-up.

    python serve.py --model models/small                       # http://127.0.0.1:8000/
    python serve.py --model models/fwd --mmi_model models/rev --decoding sample --top_k 20
    DIALOGPT_API_KEY=secret python serve.py --model models/small --safe

The decoding flags are the same as ``interact.py``'s and set the defaults of every request; a
request's own parameters override them per request.
"""

from __future__ import annotations

import argparse
import logging
import os
from dataclasses import dataclass, replace
from pathlib import Path

from dialogpt.cli import UserError, setup_logging, usable_cores
from dialogpt.config import build_parser as build_config_parser
from dialogpt.config import flag, section
from dialogpt.decoding.decoder_config import DecoderConfig, parse_with_preset
from dialogpt.serving.safety import DEFAULT_BLOCKLIST, NEUTRAL_REPLY

logger = logging.getLogger(__name__)

API_KEY_ENV = "DIALOGPT_API_KEY"

DESCRIPTION = """Serve a DialoGPT or GODEL model over HTTP: an OpenAI-compatible API
(/v1/chat/completions with streaming, /v1/completions, /v1/models), Hugging Face /generate,
/health, /metrics (Prometheus) and a chat page at /.

example:
  python serve.py --model models/small
  python serve.py --model models/fwd --mmi_model models/rev --decoding sample --top_k 20
  DIALOGPT_API_KEY=secret python serve.py --model models/small --host 0.0.0.0 --safe"""


_SERVER = "server"
_LIMITS = "request limits"
_SAFE = "safe mode"


@dataclass(frozen=True)
class ServeConfig:
    """The server's settings; each field is also a flag of ``serve.py``."""

    host: str = flag("127.0.0.1", "address to bind (0.0.0.0 exposes the server to the network)",
                     _SERVER)
    port: int = flag(8000, "TCP port (0 = any free port)", _SERVER, kind=int)
    api_key: str | None = flag(None, "require 'Authorization: Bearer KEY' on /v1/* and /generate "
                               f"(else from ${API_KEY_ENV}; unset = no key)", _SERVER)
    served_model_name: str | None = flag(None, "model id in /v1/models and responses (default: "
                                         "--model's name)", _SERVER)
    max_batch_size: int = flag(32, "most sequences the engine decodes together (continuous "
                               "batching: a request joins at the next step; 1 = one at a time)",
                               _SERVER, kind=int)
    max_queue: int = flag(256, "requests allowed to wait; more are refused with 429 + "
                          "Retry-After", _SERVER, kind=int)
    max_request_bytes: int = flag(1 << 20, "largest request body; larger ones get 413", _SERVER,
                                  kind=int)
    max_n: int = flag(8, "largest 'n' of a request", _SERVER, kind=int)
    max_beams: int = flag(8, "largest num_beams of a request; n * num_beams is bounded by the "
                          "larger of --max_n and --max_beams", _LIMITS, kind=int)
    max_new_tokens: int | None = flag(None, "largest max_tokens of a request (default: the "
                                      "model's positions for a causal model, 512 for a seq2seq "
                                      "one, whose length is otherwise unbounded)", _LIMITS,
                                      kind=int)
    request_timeout: float = flag(300.0, "seconds a request may decode: then it stops and frees "
                                  "its slot (a stream ends with finish_reason 'length', other "
                                  "answers are a 504); 0 = no limit", _LIMITS, kind=float)
    header_timeout: float = flag(10.0, "seconds a client has to send a request's headers (slow "
                                 "clients get a 408 and are disconnected)", _LIMITS, kind=float)
    body_timeout: float = flag(30.0, "seconds a client has to send a request's body (else 408)",
                               _LIMITS, kind=float)
    max_connections: int = flag(512, "open connections served at once; a request beyond them "
                                "gets 503", _LIMITS, kind=int)
    page: bool = flag(True, "serve the chat page (Gradio) at /", _SERVER, kind=bool)
    threads: int = flag(0, "CPU threads of torch (0 = every core this process may use; on a "
                        "machine whose other processes keep cores busy, give the number of idle "
                        "cores: decoding threads that lose their core wait on each other)",
                        _SERVER, kind=int)
    safe: str | None = flag(None, "ban the words of a blocklist (extractor format: one word or "
                            "phrase a line) while generating and never return a reply holding "
                            "one; bare --safe uses a short built-in profanity list", _SAFE,
                            nargs="?", const=str(DEFAULT_BLOCKLIST), metavar="FILE")
    safe_reply: str = flag(NEUTRAL_REPLY, "the reply sent when resampling could not avoid a "
                           "blocked word", _SAFE)
    safe_retries: int = flag(3, "resamples of a blocked reply before the neutral reply is sent",
                             _SAFE, kind=int)

    def __post_init__(self) -> None:
        problems = []
        if not 0 <= self.port <= 65535:
            problems.append("--port must be in 0..65535")
        if self.max_batch_size < 1:
            problems.append("--max_batch_size must be >= 1 (1 = no batching)")
        if self.threads < 0:
            problems.append("--threads must be >= 0 (0 = every core this process may use)")
        if self.max_queue < 1 or self.max_n < 1:
            problems.append("--max_queue and --max_n must be >= 1")
        if self.max_request_bytes < 1024:
            problems.append("--max_request_bytes must be >= 1024")
        if self.max_beams < 1 or (self.max_new_tokens is not None and self.max_new_tokens < 1):
            problems.append("--max_beams and --max_new_tokens must be >= 1")
        if self.request_timeout < 0:
            problems.append("--request_timeout must be >= 0 (0 = no limit)")
        if not (self.header_timeout > 0 and self.body_timeout > 0 and self.max_connections > 0):
            problems.append("--header_timeout, --body_timeout and --max_connections must be > 0")
        if self.safe and not Path(self.safe).is_file():
            problems.append(f"--safe {self.safe}: no such blocklist file (one word or phrase a "
                            "line, # for comments; a bare --safe uses the built-in list)")
        if problems:
            raise UserError("; ".join(problems))


@dataclass(frozen=True)
class ServeCommand:
    """Everything ``serve.py`` is told: the decoder's flags, the server's, logging."""

    decoder: DecoderConfig = section(DecoderConfig)
    server: ServeConfig = section(ServeConfig)
    verbose: bool = flag(False, "debug logging", const=True)


def build_parser() -> argparse.ArgumentParser:
    return build_config_parser(ServeCommand, "serve.py", DESCRIPTION)


def parse_command(argv=None) -> ServeCommand:
    """``serve.py``'s command line, validated; without ``--api_key``, ``$DIALOGPT_API_KEY``."""
    command = parse_with_preset(ServeCommand, build_parser(), argv)
    key = command.server.api_key or os.environ.get(API_KEY_ENV) or None
    return replace(command, server=replace(command.server, api_key=key))


def build_state(decoder, config: ServeConfig, model_name: str):
    """The engine, batcher and metrics around a loaded ``Decoder`` (its options = defaults)."""
    import time

    from dialogpt.serving.batcher import Batcher
    from dialogpt.serving.engine import Engine
    from dialogpt.serving.metrics import Metrics
    from dialogpt.serving.routes import ServerState
    from dialogpt.serving.safety import SafetyFilter

    safety = (SafetyFilter.from_file(config.safe, config.safe_reply, config.safe_retries)
              if config.safe else None)
    metrics = Metrics()
    engine = Engine(decoder.model, decoder.tokenizer, decoder.options, decoder.ranker, safety,
                    metrics, sources=decoder.sources, max_rows=config.max_batch_size)
    batcher = Batcher(engine, config.max_batch_size, config.max_queue, metrics)
    model_id = config.served_model_name or Path(model_name.rstrip("/")).name or model_name
    return ServerState(engine=engine, batcher=batcher, metrics=metrics, model_id=model_id,
                       aliases=(model_name,), max_n=config.max_n, api_key=config.api_key,
                       max_request_bytes=config.max_request_bytes, created=int(time.time()),
                       limits=request_limits(config, decoder),
                       request_timeout=config.request_timeout or None)


SEQ2SEQ_MAX_NEW_TOKENS = 512
"""The default ``--max_new_tokens`` of a seq2seq model: nothing else bounds its reply."""


def request_limits(config: ServeConfig, decoder):
    """``schemas.Limits`` of the server; the default ``--max_length`` must fit its cap."""
    from dialogpt.serving.schemas import Limits

    seq2seq = getattr(decoder.model.config, "is_encoder_decoder", False)
    positions = getattr(decoder, "positions", None)
    cap = config.max_new_tokens or (SEQ2SEQ_MAX_NEW_TOKENS if seq2seq or not positions
                                    else positions)
    if decoder.options.max_length > cap:
        raise UserError(f"--max_length {decoder.options.max_length} is over --max_new_tokens "
                        f"{cap}: lower it, or raise --max_new_tokens")
    return Limits(max_n=config.max_n, max_beams=config.max_beams, max_new_tokens=cap)


LOOPBACK = ("127.0.0.1", "localhost", "::1")


def warn_if_open(config: ServeConfig) -> None:
    """Say at start-up what anyone on the network can use: the API and the chat page (with
    ``--api_key`` both need the key: the page asks for it once)."""
    if config.host in LOOPBACK or config.api_key:
        return
    logger.warning("serving on %s without --api_key: anyone who can reach it can use the API%s",
                   config.host, " and the chat page at / (which generates without a key; "
                   "pass --api_key, or --page false)" if config.page else "")


def connection_limits(config: ServeConfig):
    from dialogpt.serving.connections import ConnectionLimits

    return ConnectionLimits(config.header_timeout, config.body_timeout, config.max_connections)


SERVE_MODULES = ("fastapi", "uvicorn", "pydantic")
"""What the API needs (the ``serve`` extra); the chat page needs ``gradio`` as well."""


def require_serve_extra(page: bool) -> None:
    """One line naming ``pip install -e ".[serve]"`` when a package of the extra is missing,
    before the model loads (``--page false`` does without gradio)."""
    from dialogpt.extras import require, require_all

    require_all(SERVE_MODULES, "serve.py")
    if page:
        require("gradio", "serve.py's chat page", " (or --page false: the API alone)")


def torch_threads(requested: int) -> int:
    """``--threads``: 0 = every core this process may use (its CPU affinity).

    The HTTP side needs little (about 1 CPU ms a generated token at 32 clients), so leaving it a
    core of its own idles that core; see benchmarks/RESULTS.md (vs_vllm, quiet box)."""
    return requested or usable_cores()


def main(argv=None) -> int:
    command = parse_command(argv)
    setup_logging(command.verbose)
    preset_note = command.decoder.preset_note()
    if preset_note:
        logger.info("%s", preset_note)
    config = command.server
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    require_serve_extra(config.page)
    import uvicorn

    from dialogpt.serving.app import create_app
    from dialogpt.serving.connections import uvicorn_settings

    import torch

    torch.set_num_threads(torch_threads(config.threads))
    decoder = command.decoder.load()
    state = build_state(decoder, config, command.decoder.spec.model)
    state.batcher.start()
    app = create_app(state, page=config.page, body_timeout=config.body_timeout)
    warn_if_open(config)
    logger.info("serving %s at http://%s:%d/ (API under /v1)", state.model_id, config.host,
                config.port)
    try:
        uvicorn.run(app, host=config.host, port=config.port, log_level="info",
                    **uvicorn_settings(connection_limits(config)))
    finally:
        state.batcher.stop()
    return 0
