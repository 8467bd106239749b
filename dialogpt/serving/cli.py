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
from dataclasses import dataclass, fields
from pathlib import Path

from dialogpt.cli import UserError, add_bool_flag, make_parser, setup_logging
from dialogpt.decoding.loading import add_grounding_args, add_model_args
from dialogpt.decoding.options import add_decoding_args, parse_with_preset

logger = logging.getLogger(__name__)

API_KEY_ENV = "DIALOGPT_API_KEY"

DESCRIPTION = """Serve a DialoGPT or GODEL model over HTTP: an OpenAI-compatible API
(/v1/chat/completions with streaming, /v1/completions, /v1/models), Hugging Face /generate,
/health, /metrics (Prometheus) and a chat page at /.

example:
  python serve.py --model models/small
  python serve.py --model models/fwd --mmi_model models/rev --decoding sample --top_k 20
  DIALOGPT_API_KEY=secret python serve.py --model models/small --host 0.0.0.0 --safe"""


@dataclass(frozen=True)
class ServeConfig:
    host: str = "127.0.0.1"
    port: int = 8000
    api_key: str | None = None
    served_model_name: str | None = None
    max_batch_size: int = 32
    max_queue: int = 256
    max_request_bytes: int = 1 << 20
    max_n: int = 8
    max_beams: int = 8
    max_new_tokens: int | None = None
    request_timeout: float = 300.0
    header_timeout: float = 10.0
    body_timeout: float = 30.0
    max_connections: int = 512
    safe: str | None = None
    safe_reply: str = ""
    safe_retries: int = 3
    page: bool = True
    threads: int = 0

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

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> ServeConfig:
        values = {f.name: getattr(args, f.name) for f in fields(cls)}
        values["api_key"] = args.api_key or os.environ.get(API_KEY_ENV) or None
        return cls(**values)


def build_parser() -> argparse.ArgumentParser:
    from dialogpt.serving.safety import DEFAULT_BLOCKLIST, NEUTRAL_REPLY

    d = ServeConfig()
    parser = make_parser("serve.py", DESCRIPTION)
    add_model_args(parser)
    add_decoding_args(parser)
    add_grounding_args(parser)
    http = parser.add_argument_group("server")
    http.add_argument("--host", default=d.host,
                      help="address to bind (0.0.0.0 exposes the server to the network)")
    http.add_argument("--port", type=int, default=d.port, help="TCP port (0 = any free port)")
    http.add_argument("--api_key", default=None,
                      help=f"require 'Authorization: Bearer KEY' on /v1/* and /generate (else "
                           f"from ${API_KEY_ENV}; unset = no key)")
    http.add_argument("--served_model_name", default=None,
                      help="model id in /v1/models and responses (default: --model's name)")
    http.add_argument("--max_batch_size", type=int, default=d.max_batch_size,
                      help="most sequences the engine decodes together (continuous batching: "
                           "a request joins at the next step; 1 = one at a time)")
    http.add_argument("--max_queue", type=int, default=d.max_queue,
                      help="requests allowed to wait; more are refused with 429 + Retry-After")
    http.add_argument("--max_request_bytes", type=int, default=d.max_request_bytes,
                      help="largest request body; larger ones get 413")
    http.add_argument("--max_n", type=int, default=d.max_n, help="largest 'n' of a request")
    limits = parser.add_argument_group("request limits")
    limits.add_argument("--max_beams", type=int, default=d.max_beams,
                        help="largest num_beams of a request; n * num_beams is bounded by the "
                             "larger of --max_n and --max_beams")
    limits.add_argument("--max_new_tokens", type=int, default=None,
                        help="largest max_tokens of a request (default: the model's positions "
                             "for a causal model, 512 for a seq2seq one, whose length is "
                             "otherwise unbounded)")
    limits.add_argument("--request_timeout", type=float, default=d.request_timeout,
                        help="seconds a request may decode: then it stops and frees its slot "
                             "(a stream ends with finish_reason 'length', other answers are a "
                             "504); 0 = no limit")
    limits.add_argument("--header_timeout", type=float, default=d.header_timeout,
                        help="seconds a client has to send a request's headers (slow clients "
                             "get a 408 and are disconnected)")
    limits.add_argument("--body_timeout", type=float, default=d.body_timeout,
                        help="seconds a client has to send a request's body (else 408)")
    limits.add_argument("--max_connections", type=int, default=d.max_connections,
                        help="open connections served at once; a request beyond them gets 503")
    add_bool_flag(http, "--page", d.page, "serve the chat page (Gradio) at /")
    http.add_argument("--threads", type=int, default=d.threads,
                      help="CPU threads of torch (0 = every core this process may use; on a "
                           "machine whose other processes keep cores busy, give the number of "
                           "idle cores: decoding threads that lose their core wait on each "
                           "other)")
    safe = parser.add_argument_group("safe mode")
    safe.add_argument("--safe", nargs="?", const=str(DEFAULT_BLOCKLIST), default=None,
                      metavar="FILE",
                      help="ban the words of a blocklist (extractor format: one word or phrase a "
                           "line) while generating and never return a reply holding one; bare "
                           "--safe uses a short built-in profanity list")
    safe.add_argument("--safe_reply", default=NEUTRAL_REPLY,
                      help="the reply sent when resampling could not avoid a blocked word")
    safe.add_argument("--safe_retries", type=int, default=d.safe_retries,
                      help="resamples of a blocked reply before the neutral reply is sent")
    parser.add_argument("--verbose", action="store_true", help="debug logging")
    return parser


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
    if requested:
        return requested
    if hasattr(os, "sched_getaffinity"):  # Linux: honours taskset / cgroup cpusets
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def main(argv=None) -> int:
    args, preset_note = parse_with_preset(build_parser(), argv)
    setup_logging(args.verbose)
    if preset_note:
        logger.info("%s", preset_note)
    config = ServeConfig.from_args(args)
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    require_serve_extra(config.page)
    import uvicorn

    from dialogpt.decoding.args import load_decoder_from_args
    from dialogpt.serving.app import create_app
    from dialogpt.serving.connections import uvicorn_settings

    import torch

    torch.set_num_threads(torch_threads(config.threads))
    decoder = load_decoder_from_args(args)
    state = build_state(decoder, config, args.model)
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
