"""The HTTP endpoints: OpenAI chat and completions (with SSE), models, health (TGI's: ``tgi``).

Each handler parses its body (``schemas``), prepares jobs in a worker thread (tokenising and
windowing never block the event loop), queues them on the ``Batcher`` and waits for their events.
A request that ends early (its client disconnected, or the stream was closed) cancels its jobs,
which frees their places in the queue and in a running batch.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from dialogpt.serving.errors import APIError, error_body
from dialogpt.serving.schemas import (
    ChatBody,
    Choice,
    CompletionBody,
    Limits,
    Prompt,
    Sampling,
    Usage,
    chat_prompt,
    check_limits,
    openai_sampling,
    text_prompt,
)
from dialogpt.serving import logprobs as logprob_shapes
from dialogpt.serving.streaming import DONE, KEEPALIVE, sse

KEEPALIVE_SECONDS = 15.0
DISCONNECT_POLL_SECONDS = 0.5
STUCK_GRACE_SECONDS = 10.0
"""How long a request stopped by ``--request_timeout`` may take to leave the engine before
``/health`` calls the worker stuck."""


class RequestTimeout(APIError):
    """The request ran past ``--request_timeout``: stopped, its engine rows freed."""


@dataclass
class ServerState:
    engine: Any
    batcher: Any
    metrics: Any
    model_id: str
    aliases: tuple[str, ...] = ()
    max_n: int = 8
    api_key: str | None = None
    max_request_bytes: int = 1 << 20
    created: int = 0
    limits: Limits = field(default_factory=Limits)
    """Per-request caps (n, beams, new tokens); ``schemas.check_limits``."""
    request_timeout: float | None = None
    """Seconds a request may decode before it ends (``finish_reason`` length, or 504)."""
    timed_out: list = field(default_factory=list)
    """Jobs that hit ``request_timeout``: ``/health`` checks that their decoding stopped."""

    def check_model(self, name: str | None) -> None:
        if name is not None and name not in (self.model_id, *self.aliases):
            raise APIError(404, f"model {name!r} is not served here; GET /v1/models lists "
                                f"{self.model_id!r}", param="model", code="model_not_found")


async def read_json(request) -> dict:
    """The request's JSON object; 400 for bad JSON, a body that is not an object, or text that
    is not valid Unicode (the nesting depth was bounded by the middleware before this parse)."""
    raw = await request.body()
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise APIError(400, f"the body is not valid JSON: {exc}") from exc
    except RecursionError:
        raise APIError(400, "the body is nested too deeply") from None
    if not isinstance(data, dict):
        raise APIError(400, f"the body must be a JSON object, got {type(data).__name__}")
    check_unicode(data)
    return data


def check_unicode(value, where: str = "") -> None:
    """400 naming the first string (or key) holding a lone surrogate such as ``"\\ud800"``: JSON
    escapes allow it, but it is not text (tokenizers and UTF-8 encoders fail on it)."""
    if isinstance(value, str):
        if any("\ud800" <= char <= "\udfff" for char in value):
            raise APIError(400, f"{where or 'body'} holds a lone surrogate (an unpaired \\uD800-"
                                "\\uDFFF escape), which is not valid Unicode text",
                           param=where or None)
    elif isinstance(value, dict):
        for key, item in value.items():
            check_unicode(key, f"{where}.{key}".lstrip(".") if isinstance(key, str) else where)
            check_unicode(item, f"{where}.{key}".lstrip("."))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            check_unicode(item, f"{where}[{index}]")


VALUE_ERRORS = ("greater_than", "greater_than_equal", "less_than", "less_than_equal",
                "finite_number")
"""Pydantic errors of a value out of its range: a 400 (a missing field or wrong type: 422)."""


def validate(data: dict, model):
    """``data`` as the pydantic ``model``; 422 naming the fields that are missing or of the wrong
    type, 400 naming a number out of its range."""
    from pydantic import ValidationError

    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors(include_input=False)
        first = errors[0]
        param = ".".join(str(part) for part in first["loc"]) or None
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}"
                             for e in errors[:5])
        status = 400 if all(e["type"] in VALUE_ERRORS for e in errors) else 422
        raise APIError(status, problems, param=param) from None


async def parse_body(request, model):
    return validate(await read_json(request), model)


# -- running jobs ----------------------------------------------------------------------------------

class Run:
    """The jobs of one request (one per prompt) and their shared event queue."""

    def __init__(self, state: ServerState, jobs: Sequence) -> None:
        self.state = state
        self.jobs = list(jobs)
        self.events: asyncio.Queue = asyncio.Queue()
        self.choices: dict[int, Choice] = {}
        self.finished = 0
        self.deadline = (time.monotonic() + state.request_timeout if state.request_timeout
                         else None)
        loop = asyncio.get_running_loop()
        offset = 0
        for job in self.jobs:
            job.loop, job.events, job.choice_offset = loop, self.events, offset
            offset += job.sampling.n

    @property
    def done(self) -> bool:
        return self.finished == len(self.jobs)

    def submit(self) -> None:
        try:
            for job in self.jobs:
                self.state.batcher.submit(job)
        except APIError:
            self.cancel()
            raise

    def cancel(self) -> None:
        for job in self.jobs:
            if not job.cancelled.is_set():
                self.state.batcher.cancel(job)

    def expire_if_late(self) -> float | None:
        """Seconds left before ``--request_timeout``; past it, stop the jobs (their slots free at
        the engine's next step) and raise ``RequestTimeout``."""
        if self.deadline is None:
            return None
        left = self.deadline - time.monotonic()
        if left > 0:
            return left
        self.state.timed_out.append((time.monotonic(), list(self.jobs)))
        self.cancel()
        raise RequestTimeout(504, f"the request ran past the server's --request_timeout of "
                                  f"{self.state.request_timeout:g} s: stopped, its slot freed",
                             code="timeout")

    async def next_event(self, timeout: float) -> tuple | None:
        left = self.expire_if_late()
        try:
            event = await asyncio.wait_for(self.events.get(),
                                           timeout if left is None else min(timeout, left))
        except asyncio.TimeoutError:
            self.expire_if_late()
            return None
        kind = event[0]
        if kind == "error":
            raise event[1]
        if kind == "done":
            _, offset, choices = event
            self.finished += 1
            for job in self.jobs:
                if job.choice_offset == offset:
                    self.state.batcher.finished(job)
            for number, choice in enumerate(choices):
                self.choices[offset + number] = choice
        return event

    async def wait(self, request) -> list[Choice]:
        """Every choice, in order; cancels the jobs if the client disconnects first."""
        try:
            while not self.done:
                if await self.next_event(DISCONNECT_POLL_SECONDS) is None:
                    if await request.is_disconnected():
                        self.state.metrics.inc("disconnects_total")
                        raise APIError(499, "the client disconnected")
            return [self.choices[i] for i in sorted(self.choices)]
        finally:
            if not self.done:
                self.cancel()

    def usage(self) -> Usage:
        return Usage(prompt_tokens=sum(len(job.context_ids) for job in self.jobs),
                     completion_tokens=sum(c.completion_tokens for c in self.choices.values()))


async def start(state: ServerState, prompts: Sequence[Prompt], sampling: Sampling,
                stream: bool) -> Run:
    """Prepare and queue one job per prompt. Every route comes through here, so the server's
    per-request limits are checked here (400s: retrying the same request cannot succeed)."""
    from starlette.concurrency import run_in_threadpool

    reranking = state.engine.ranker is not None
    check_limits(sampling.options, sampling.n, state.limits,
                 state.engine.defaults.num_candidates if reranking else 0)
    capacity = state.batcher.max_batch_size + state.batcher.max_queue
    if len(prompts) > capacity:
        raise APIError(400, f"the request holds {len(prompts)} prompts, more than the server can "
                            f"ever hold at once ({capacity}: --max_batch_size + --max_queue); "
                            "send them in smaller requests", param="prompt")
    jobs = [await run_in_threadpool(state.engine.prepare, prompt, sampling, stream)
            for prompt in prompts]
    run = Run(state, jobs)
    run.submit()
    return run


# -- OpenAI ------------------------------------------------------------------------------------------

def _header(kind: str, state: ServerState) -> dict[str, Any]:
    prefix = "chatcmpl" if kind.startswith("chat") else "cmpl"
    return {"id": f"{prefix}-{uuid.uuid4().hex}", "object": kind, "created": int(time.time()),
            "model": state.model_id}


def chat_logprobs(state: ServerState, choice: Choice, wanted: bool) -> dict | None:
    if not wanted or choice.logprobs is None:
        return None
    return logprob_shapes.chat_logprobs(choice.logprobs, state.engine.token_texts)


def legacy_logprobs(choice: Choice, sampling: Sampling) -> dict | None:
    """``logprobs`` of a completion choice (offsets into its text): with ``echo`` the prompt's
    tokens come first."""
    if sampling.logprobs is None:
        return None
    return logprob_shapes.legacy_logprobs((choice.prompt_logprobs or [])
                                          + logprob_shapes.reply_tokens(choice.logprobs))


async def chat_completions(request, state: ServerState):
    body = await parse_body(request, ChatBody)
    state.check_model(body.model)
    sampling = openai_sampling(body, state.engine.defaults, state.max_n)
    run = await start(state, [chat_prompt(body)], sampling, body.stream)
    if body.stream:
        return event_stream(stream_chunks(run, state, chat=True,
                                          include_usage=body.include_usage))
    choices = await run.wait(request)
    return {**_header("chat.completion", state),
            "choices": [{"index": i, "message": {"role": "assistant", "content": c.text},
                         "finish_reason": c.finish_reason,
                         "logprobs": chat_logprobs(state, c, body.logprobs)}
                        for i, c in enumerate(choices)],
            "usage": run.usage().as_dict()}


def completion_prompts(body: CompletionBody) -> list[Prompt]:
    """Texts (turns joined by `` EOS ``; as given with ``echo``) or token ids (as given)."""
    given = body.prompt
    if isinstance(given, str) or (given and isinstance(given[0], int)):
        given = [given]
    if not given:
        raise APIError(400, "prompt is an empty list", param="prompt")
    prompts = []
    for index, item in enumerate(given):
        param = "prompt" if len(given) == 1 else f"prompt[{index}]"
        if not isinstance(item, str):
            if not item:
                raise APIError(400, f"{param} is an empty list of token ids", param=param)
            prompts.append(Prompt(("",), ids=tuple(item)))
        elif body.echo:
            if not item:
                raise APIError(400, f"{param} is empty", param=param)
            prompts.append(Prompt((item,), raw=True))
        else:
            prompts.append(text_prompt(item, param, body.knowledge, body.instruction))
    return prompts


def completion_text(state: ServerState, prompt: Prompt, choice: Choice, echo: bool) -> str:
    if not echo:
        return choice.text
    given = prompt.turns[0] if prompt.ids is None else state.engine.raw_decode(list(prompt.ids))
    return given + state.engine.raw_decode(choice.ids) if choice.ids else given


async def completions(request, state: ServerState):
    body = await parse_body(request, CompletionBody)
    state.check_model(body.model)
    prompts = completion_prompts(body)
    sampling = openai_sampling(body, state.engine.defaults, state.max_n)
    if body.stream and body.echo:
        raise APIError(400, "echo with stream is not supported; send one of them",
                       param="echo")
    run = await start(state, prompts, sampling, body.stream)
    if body.stream:
        return event_stream(stream_chunks(run, state, chat=False,
                                          include_usage=body.include_usage))
    choices = await run.wait(request)
    owners = [prompt for prompt in prompts for _ in range(sampling.n)]
    out = []
    for i, (prompt, c) in enumerate(zip(owners, choices)):
        text = completion_text(state, prompt, c, body.echo)
        out.append({"index": i, "text": text, "logprobs": legacy_logprobs(c, sampling),
                    "finish_reason": c.finish_reason})
    return {**_header("text_completion", state), "choices": out, "usage": run.usage().as_dict()}


def _chunk(header: dict, chat: bool, index: int, text: str | None = None,
           finish_reason: str | None = None, role: bool = False, logprobs=None) -> dict:
    if chat:
        delta: dict[str, str] = {"role": "assistant"} if role else {}
        if text is not None:
            delta["content"] = text
        choice = {"index": index, "delta": delta, "logprobs": logprobs,
                  "finish_reason": finish_reason}
    else:
        choice = {"index": index, "text": text or "", "logprobs": logprobs,
                  "finish_reason": finish_reason}
    return {**header, "choices": [choice]}


class ChunkLogprobs:
    """The ``logprobs`` of each streamed chunk: the tokens the chunk's text came from."""

    def __init__(self, state: ServerState, chat: bool, wanted: bool) -> None:
        self.state, self.chat, self.wanted = state, chat, wanted
        self.offsets: dict[int, int] = {}

    def __call__(self, index: int, tokens) -> dict | None:
        if not self.wanted or tokens is None:
            return None
        if self.chat:
            return logprob_shapes.chat_logprobs(tokens, self.state.engine.token_texts)
        tokens = logprob_shapes.reply_tokens(tokens)
        start = self.offsets.get(index, 0)
        self.offsets[index] = start + sum(len(token.text) for token in tokens)
        return logprob_shapes.legacy_logprobs(tokens, start)


async def stream_chunks(run: Run, state: ServerState, chat: bool,
                        include_usage: bool) -> AsyncIterator[str]:
    header = _header("chat.completion.chunk" if chat else "text_completion", state)
    total = sum(job.sampling.n for job in run.jobs)
    logprobs = ChunkLogprobs(state, chat, run.jobs[0].sampling.logprobs is not None)
    failed = False
    try:
        if chat:
            for index in range(total):
                yield sse(_chunk(header, chat, index, "", role=True))
        while not run.done:
            try:
                event = await run.next_event(KEEPALIVE_SECONDS)
            except RequestTimeout:  # the unfinished choices end here, as at max_tokens
                failed = True
                for index in sorted(set(range(total)) - set(run.choices)):
                    yield sse(_chunk(header, chat, index, finish_reason="length"))
                break
            except APIError as error:
                failed = True
                yield sse(error_body(error, "/v1"))
                break
            if event is None:
                yield KEEPALIVE
            elif event[0] == "delta":
                _, index, text, tokens = event
                yield sse(_chunk(header, chat, index, text, logprobs=logprobs(index, tokens)))
            elif event[0] == "done":
                _, offset, choices = event
                for number, choice in enumerate(choices):
                    yield sse(_chunk(header, chat, offset + number,
                                     finish_reason=choice.finish_reason))
        if run.done and include_usage:
            yield sse({**header, "choices": [], "usage": run.usage().as_dict()})
        yield DONE
    finally:
        if not run.done:
            if not failed:
                state.metrics.inc("disconnects_total")
            run.cancel()


def event_stream(chunks: AsyncIterator[str]):
    from starlette.responses import StreamingResponse

    return StreamingResponse(chunks, media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


def model_card(state: ServerState) -> dict:
    return {"id": state.model_id, "object": "model", "created": state.created,
            "owned_by": "dialogpt"}


def list_models(state: ServerState) -> dict:
    return {"object": "list", "data": [model_card(state)]}


def get_model(state: ServerState, name: str) -> dict:
    """``GET /v1/models/{id}``: the served model (by its id or an alias), else a 404."""
    state.check_model(name)
    return model_card(state)


def stuck_requests(state: ServerState) -> int:
    """Requests stopped by ``--request_timeout`` whose engine work (or beam search in the
    worker) has not ended within ``STUCK_GRACE_SECONDS`` (a worker that no longer steps); ended
    ones are forgotten."""
    now, stuck, kept = time.monotonic(), 0, []
    for when, jobs in state.timed_out:
        handles = [handle for job in jobs for handle in getattr(job, "handles", ())]
        if (any(not handle.done.is_set() for handle in handles)
                or any(job.generating.is_set() for job in jobs)):
            kept.append((when, jobs))
            stuck += now - when > STUCK_GRACE_SECONDS
    state.timed_out[:] = kept
    return stuck


def health(state: ServerState):
    """``GET /health``: 200 ``ok``; 503 when the worker stopped or is stuck (a request it was
    told to stop still decoding after ``STUCK_GRACE_SECONDS``)."""
    from fastapi.responses import JSONResponse

    batcher = state.batcher
    stuck = stuck_requests(state)
    status = ("worker stopped" if not batcher.thread.is_alive()
              else f"worker stuck ({stuck} timed-out request(s) still decoding)" if stuck
              else "ok")
    body = {"status": status, "model": state.model_id,
            "kind": "seq2seq" if state.engine.seq2seq else "causal",
            "queue_depth": len(batcher.pending), "max_batch_size": batcher.max_batch_size}
    return JSONResponse(body, status_code=200 if status == "ok" else 503)
