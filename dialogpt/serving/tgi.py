"""Hugging Face text-generation-inference (TGI) routes, and GODEL's example-server body.

What the official clients (``text-generation``'s ``Client``/``AsyncClient`` and
``huggingface_hub.InferenceClient.text_generation``) send and read:
- ``POST /generate`` ``{"inputs", "parameters"}`` -> ``{"generated_text", "details"?}``;
  ``details`` (when ``parameters.details``): ``finish_reason`` (``length``, ``eos_token``,
  ``stop_sequence``), ``generated_tokens`` (the ending EOS counted, as TGI), ``seed``,
  ``prefill`` (the input tokens with log-probabilities when ``decoder_input_details``, else
  empty), ``tokens`` (``{id, text, logprob, special}``) and ``top_tokens`` (``top_n_tokens``);
- ``POST /generate_stream``, and ``/generate`` with ``"stream": true``: Server-Sent Events, one
  a token, ``{"index", "token", "top_tokens", "generated_text": null, "details": null}``; the
  last token's event carries ``generated_text`` and (with ``details``) ``details``
  (``finish_reason``, ``generated_tokens``, ``seed``, ``input_length``);
- ``POST /``: the same body, routed by ``stream``; the plain answer is a one-element list (TGI
  wraps it so, matching the hosted Inference API);
- ``GET /info``: the model and the server's limits;
- errors: ``{"error", "error_type"}`` (``errors.error_body``).
GODEL's example server posted ``{"msg": [turns], "knowledge"}`` to ``/generate`` and read
``{"response"}``: still answered there.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace

from dialogpt.serving import logprobs as shapes
from dialogpt.serving.errors import APIError, error_body
from dialogpt.serving.routes import (
    KEEPALIVE_SECONDS,
    ServerState,
    event_stream,
    read_json,
    start,
    validate,
)
from dialogpt.serving.schemas import (
    Choice,
    GodelBody,
    HFBody,
    Prompt,
    Sampling,
    hf_sampling,
    text_prompt,
)
from dialogpt.serving.streaming import KEEPALIVE, sse

FINISH_REASONS = {"eos": "eos_token", "stop_sequence": "stop_sequence", "length": "length"}
VERSION = "2.4.1"
"""The TGI release whose protocol this follows (``/info``'s ``version``)."""


def godel_example(data: dict, state: ServerState):
    godel = validate(data, GodelBody)
    turns = tuple(" ".join(turn.split()) for turn in godel.msg)
    if not turns or not all(turns):
        raise APIError(422, "msg must be a non-empty list of non-empty turns", param="msg")
    return Prompt(turns, godel.instruction, godel.knowledge or None)


def parse(data: dict, state: ServerState) -> tuple[HFBody, Prompt, Sampling]:
    body = validate(data, HFBody)
    if not body.inputs.strip():
        raise APIError(422, "inputs must not be empty", param="inputs")
    prompt = text_prompt(body.inputs, "inputs", body.knowledge, body.instruction)
    sampling = hf_sampling(body.parameters, state.engine.defaults, state.max_n)
    if body.stream and sampling.logprobs is None:  # every stream event names its token
        sampling = replace(sampling, logprobs=0)
    return body, prompt, sampling


def seed_of(sampling: Sampling) -> int | None:
    """The request's own seed (TGI reports the seed a sampled reply used)."""
    return sampling.options.seed if sampling.explicit_seed else None


def details(choice: Choice, body: HFBody, sampling: Sampling) -> dict:
    tokens = choice.logprobs or []
    out = {"finish_reason": FINISH_REASONS[choice.ended_by], "generated_tokens": len(tokens)
           or choice.completion_tokens, "seed": seed_of(sampling),
           "prefill": [{"id": t.id, "text": t.text, "logprob": t.logprob}
                       for t in choice.prompt_logprobs or []],
           "tokens": [shapes.tgi_token(t) for t in tokens]}
    if body.parameters.top_n_tokens:
        out["top_tokens"] = [shapes.tgi_top(t) for t in tokens]
    return out


def full_text(body: HFBody, text: str) -> str:
    return f"{body.inputs}{text}" if body.parameters.return_full_text else text


async def generate(request, state: ServerState, data: dict | None = None, wrap: bool = False):
    """``POST /generate`` (``wrap``: ``POST /``'s one-element list)."""
    data = await read_json(request) if data is None else data
    if "msg" in data:
        run = await start(state, [godel_example(data, state)], Sampling(state.engine.defaults),
                          False)
        return {"response": (await run.wait(request))[0].text}
    body, prompt, sampling = parse(data, state)
    if body.stream:
        return await stream(request, state, data)
    run = await start(state, [prompt], sampling, False)
    choice = (await run.wait(request))[0]
    answer = {"generated_text": full_text(body, choice.text)}
    if body.parameters.details:
        answer["details"] = details(choice, body, sampling)
    return [answer] if wrap else answer


async def stream(request, state: ServerState, data: dict | None = None):
    """``POST /generate_stream``: Server-Sent Events, one a token (see the module docstring)."""
    data = await read_json(request) if data is None else data
    body, prompt, sampling = parse(data, state)
    run = await start(state, [prompt], sampling, True)
    return event_stream(token_events(run, state, body, sampling, prompt))


async def compat(request, state: ServerState):
    """``POST /``: TGI's route for both, chosen by ``stream``."""
    data = await read_json(request)
    if data.get("stream") is True:
        return await stream(request, state, data)
    return await generate(request, state, data, wrap=True)


def _event(token, body: HFBody, index: int) -> dict:
    return {"index": index, "token": shapes.tgi_token(token),
            "top_tokens": shapes.tgi_top(token) if body.parameters.top_n_tokens else None,
            "generated_text": None, "details": None}


async def token_events(run, state: ServerState, body: HFBody, sampling: Sampling,
                       prompt: Prompt) -> AsyncIterator[str]:
    """Each token as it comes; the last one is held until the reply ends, to carry the end."""
    held = None
    index = 0
    try:
        while not run.done:
            try:
                event = await run.next_event(KEEPALIVE_SECONDS)
            except APIError as error:
                yield sse(error_body(error, "/generate_stream"))
                return
            if event is None:
                yield KEEPALIVE
            elif event[0] == "delta":
                for token in event[3] or []:
                    if held is not None:
                        yield sse(_event(held, body, index))
                        index += 1
                    held = token
            elif event[0] == "done":
                choice = event[2][0]
                if held is None:
                    yield sse({"error": "the reply ended without a token", "error_type":
                               "incomplete_generation"})
                    return
                last = _event(held, body, index)
                last["generated_text"] = full_text(body, choice.text)
                if body.parameters.details:
                    last["details"] = {"finish_reason": FINISH_REASONS[choice.ended_by],
                                       "generated_tokens": index + 1,
                                       "seed": seed_of(sampling),
                                       "input_length": choice.prompt_tokens}
                yield sse(last)
    finally:
        if not run.done:
            state.metrics.inc("disconnects_total")
            run.cancel()


def info(state: ServerState) -> dict:
    """``GET /info``: TGI's fields that mean something here."""
    engine = state.engine
    positions = getattr(engine.default_decoder, "positions", None)
    return {"model_id": state.model_id, "model_sha": None, "model_dtype": str(
                getattr(engine.model, "dtype", "float32")).removeprefix("torch."),
            "model_device_type": str(getattr(engine.model, "device", "cpu")),
            "model_pipeline_tag": "text2text-generation" if engine.seq2seq
            else "text-generation",
            "max_concurrent_requests": state.batcher.max_queue,
            "max_best_of": 1, "max_stop_sequences": 4,
            "max_input_tokens": positions, "max_total_tokens": positions,
            "max_batch_size": state.batcher.max_batch_size, "max_client_batch_size": 1,
            "validation_workers": 1, "router": "dialogpt serve.py", "version": VERSION,
            "sha": None, "docker_label": None}
