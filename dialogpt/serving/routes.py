"""The HTTP endpoints: OpenAI chat and completions (with SSE), models, HF ``/generate``, health.

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
from dataclasses import dataclass
from typing import Any

from dialogpt.serving.errors import APIError, error_body
from dialogpt.serving.schemas import (
    ChatBody,
    Choice,
    CompletionBody,
    GodelBody,
    HFBody,
    Prompt,
    Sampling,
    Usage,
    chat_prompt,
    hf_sampling,
    openai_sampling,
    text_prompt,
)
from dialogpt.serving.streaming import DONE, KEEPALIVE, sse

KEEPALIVE_SECONDS = 15.0
DISCONNECT_POLL_SECONDS = 0.5


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

    def check_model(self, name: str | None) -> None:
        if name is not None and name not in (self.model_id, *self.aliases):
            raise APIError(404, f"model {name!r} is not served here; GET /v1/models lists "
                                f"{self.model_id!r}", param="model", code="model_not_found")


async def read_json(request) -> dict:
    """The request's JSON object; 400 for bad JSON or a body that is not an object."""
    raw = await request.body()
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise APIError(400, f"the body is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise APIError(400, f"the body must be a JSON object, got {type(data).__name__}")
    return data


def validate(data: dict, model):
    """``data`` as the pydantic ``model``; 422 naming the fields that are missing or wrong."""
    from pydantic import ValidationError

    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        param = ".".join(str(part) for part in first["loc"]) or None
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}"
                             for e in exc.errors()[:5])
        raise APIError(422, problems, param=param) from exc


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

    async def next_event(self, timeout: float) -> tuple | None:
        try:
            event = await asyncio.wait_for(self.events.get(), timeout)
        except asyncio.TimeoutError:
            return None
        kind = event[0]
        if kind == "error":
            raise event[1]
        if kind == "done":
            _, offset, choices = event
            self.finished += 1
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
    from starlette.concurrency import run_in_threadpool

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
                         "finish_reason": c.finish_reason, "logprobs": None}
                        for i, c in enumerate(choices)],
            "usage": run.usage().as_dict()}


async def completions(request, state: ServerState):
    body = await parse_body(request, CompletionBody)
    state.check_model(body.model)
    texts = [body.prompt] if isinstance(body.prompt, str) else list(body.prompt)
    if not texts:
        raise APIError(400, "prompt is an empty list", param="prompt")
    prompts = [text_prompt(text, "prompt" if len(texts) == 1 else f"prompt[{i}]",
                           body.knowledge, body.instruction) for i, text in enumerate(texts)]
    sampling = openai_sampling(body, state.engine.defaults, state.max_n)
    run = await start(state, prompts, sampling, body.stream)
    if body.stream:
        return event_stream(stream_chunks(run, state, chat=False,
                                          include_usage=body.include_usage))
    choices = await run.wait(request)
    return {**_header("text_completion", state),
            "choices": [{"index": i, "text": c.text, "logprobs": None,
                         "finish_reason": c.finish_reason} for i, c in enumerate(choices)],
            "usage": run.usage().as_dict()}


def _chunk(header: dict, chat: bool, index: int, text: str | None = None,
           finish_reason: str | None = None, role: bool = False) -> dict:
    if chat:
        delta: dict[str, str] = {"role": "assistant"} if role else {}
        if text is not None:
            delta["content"] = text
        choice = {"index": index, "delta": delta, "logprobs": None,
                  "finish_reason": finish_reason}
    else:
        choice = {"index": index, "text": text or "", "logprobs": None,
                  "finish_reason": finish_reason}
    return {**header, "choices": [choice]}


async def stream_chunks(run: Run, state: ServerState, chat: bool,
                        include_usage: bool) -> AsyncIterator[str]:
    header = _header("chat.completion.chunk" if chat else "text_completion", state)
    total = sum(job.sampling.n for job in run.jobs)
    failed = False
    try:
        if chat:
            for index in range(total):
                yield sse(_chunk(header, chat, index, "", role=True))
        while not run.done:
            try:
                event = await run.next_event(KEEPALIVE_SECONDS)
            except APIError as error:
                failed = True
                yield sse(error_body(error, "/v1"))
                break
            if event is None:
                yield KEEPALIVE
            elif event[0] == "delta":
                _, index, text = event
                yield sse(_chunk(header, chat, index, text))
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


def list_models(state: ServerState) -> dict:
    return {"object": "list", "data": [{"id": state.model_id, "object": "model",
                                        "created": state.created, "owned_by": "dialogpt"}]}


# -- Hugging Face and GODEL's example server -----------------------------------------------------------

async def hf_generate(request, state: ServerState):
    data = await read_json(request)
    if "msg" in data:  # GODEL's example server
        godel = validate(data, GodelBody)
        turns = tuple(" ".join(turn.split()) for turn in godel.msg)
        if not turns or not all(turns):
            raise APIError(422, "msg must be a non-empty list of non-empty turns", param="msg")
        prompt = Prompt(turns, godel.instruction, godel.knowledge or None)
        run = await start(state, [prompt], Sampling(state.engine.defaults), False)
        return {"response": (await run.wait(request))[0].text}
    body = validate(data, HFBody)
    prompt = text_prompt(body.inputs, "inputs", body.knowledge, body.instruction)
    sampling = hf_sampling(body.parameters, state.engine.defaults, state.max_n)
    run = await start(state, [prompt], sampling, False)
    text = (await run.wait(request))[0].text
    if body.parameters.return_full_text:
        text = f"{body.inputs}{text}"
    return {"generated_text": text}


def health(state: ServerState) -> dict:
    batcher = state.batcher
    return {"status": "ok" if batcher.thread.is_alive() else "worker stopped",
            "model": state.model_id,
            "kind": "seq2seq" if state.engine.seq2seq else "causal",
            "queue_depth": len(batcher.pending), "max_batch_size": batcher.max_batch_size}
