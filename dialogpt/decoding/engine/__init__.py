"""The decoding engine: requests in, token events out, with continuous batching.

One engine decodes for ``generate.py`` (``Decoder``), ``interact.py`` and the HTTP server, for
GPT-2 (causal) and T5 (seq2seq, e.g. GODEL) models, in plain torch over the model's own modules
(fp32 on CPU; any device and dtype the model is on). Beam search is not an engine method: it stays
on Hugging Face ``generate`` (``Decoder``), as does any other architecture (``supports``).

API (everything importable from ``dialogpt.decoding.engine``; no torch import until used):

- ``SamplingParams`` (frozen dataclass): ``max_new_tokens``, ``min_new_tokens``, ``sample``
  (False = greedy), ``temperature``, ``top_k``, ``top_p``, ``repetition_penalty``,
  ``no_repeat_ngram_size``, ``seed`` (sampling: a per-request ``torch.Generator``, so the tokens do
  not depend on the batch), ``stop`` (strings), ``stop_token_ids``, ``bad_words_ids``,
  ``logprobs`` (None, or N: chosen-token + top-N log-probabilities per new token),
  ``prompt_logprobs`` (causal: score the prompt as given, for ``echo``);
  ``SamplingParams.from_options(DecodingOptions, **overrides)``.
- ``Request(prompt_ids, params, request_id)``: a causal model continues ``prompt_ids``; a seq2seq
  model encodes them and decodes from its decoder start token.
- ``TokenEvent``: ``request_id``, ``token_id``, ``index``, ``text`` (newly final text: stop
  strings and split UTF-8 held back), ``logprob`` (``TokenLogprob``), ``finished``,
  ``finish_reason`` (``eos`` | ``stop`` | ``length`` | ``abort``), ``completion`` (on the last).
- ``Completion``: ``token_ids`` (EOS / stop token excluded), ``text`` (cut before a stop string),
  ``finish_reason``, ``logprobs``, ``prompt_logprobs``, ``submitted_step``/``finished_step``.
- ``Engine(model, tokenizer, max_rows=64, prefill_tokens=256, encode_tokens=2048,
  cache_tokens=16384, stream_text=False)``: single-threaded core. ``add(request)`` (ValueError if it cannot be
  decoded), ``step() -> [TokenEvent]``, ``abort(request_id)``, ``has_work()``,
  ``run(requests, on_event=None) -> [Completion]`` (synchronous batch use).
- ``EngineLoop(engine)``: the thread-safe front for servers: ``start()``, ``submit(request,
  on_event=None) -> RequestHandle`` (``handle.events()`` iterates its events,
  ``handle.result()`` waits for its ``Completion``, ``handle.abort()``), ``abort(request_id)``,
  ``stop()``. A background thread steps the engine while it has work.

How a step works: ``core``; the cache: ``kv``; the forward passes: ``causal`` (GPT-2),
``seq2seq`` (T5); token choice and log-probabilities: ``sampling``; text and stop strings:
``text``; the thread: ``service``.
"""

from __future__ import annotations

from dialogpt.decoding.engine.api import (Completion, Request, SamplingParams, TokenEvent,
                                          TokenLogprob)

__all__ = ["Completion", "Engine", "EngineLoop", "Request", "RequestHandle", "SamplingParams",
           "TokenEvent", "TokenLogprob", "supports"]


def __getattr__(name: str):
    if name in ("Engine", "supports"):
        from dialogpt.decoding.engine import core

        return getattr(core, name)
    if name in ("EngineLoop", "RequestHandle"):
        from dialogpt.decoding.engine import service

        return getattr(service, name)
    raise AttributeError(name)
