"""Decoding requests in batches with the toolkit's ``Decoder`` (context windows, generate, MMI).

``Engine.prepare`` turns a request into a ``Job`` in the caller's thread: it validates the
decoding options by building a ``Decoder`` for them (one per distinct option set, cached; the
model is shared) and windows the dialog with ``Decoder.window``, exactly as ``interact.py`` and
``generate.py`` do. ``Engine.run_batch`` (generation worker thread only) decodes several jobs in
one ``generate`` call:

- every choice of every job is one row (MMI candidates too, as in ``Decoder.respond``), except in
  beam search, where a row returns its candidates as ``num_return_sequences``;
- jobs may ask for different ``max_tokens``: the batch generates up to the largest, and
  ``RowStopping`` stops each row at its own limit, at its stop sequences, or when its client left;
- greedy and sampled rows stream their text as it is generated; beam search, MMI reranking and
  safe mode choose a reply only at the end, so those stream it whole;
- safe mode: a chosen reply with a blocklisted word is resampled up to ``retries`` times, then
  replaced by the neutral reply.
"""

from __future__ import annotations

import asyncio
import copy
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from dialogpt.cli import UserError
from dialogpt.decoding.options import DecodingOptions
from dialogpt.serving.errors import APIError
from dialogpt.serving.schemas import Choice, Prompt, Sampling, http_message
from dialogpt.serving.streaming import RowText, final_text, row_stopping

MAX_CACHED_DECODERS = 64


@dataclass(eq=False)
class Job:
    """One request (one prompt, ``n`` choices) waiting for or being decoded."""

    prompt: Prompt
    sampling: Sampling
    decoder: Any
    context_ids: list[int]
    turns_kept: int
    stream: bool = False
    loop: asyncio.AbstractEventLoop | None = None
    events: asyncio.Queue | None = None
    cancelled: threading.Event = field(default_factory=threading.Event)
    enqueued_at: float = field(default_factory=time.monotonic)
    choice_offset: int = 0
    """Index of this job's first choice in its request's response (completions with a list)."""

    @property
    def options(self) -> DecodingOptions:
        return self.sampling.options

    @property
    def limit(self) -> int:
        return self.options.max_length

    @property
    def beam(self) -> bool:
        return self.options.decoding == "beam"

    @property
    def rows(self) -> int:
        """Sequences this job adds to a ``generate`` batch."""
        return self.sampling.n * self.decoder.candidates_per_context

    def emit(self, event: tuple) -> None:
        """Hand ``event`` to the request's coroutine (thread-safe; dropped if it is gone)."""
        if self.loop is None or self.events is None or self.cancelled.is_set():
            return
        try:
            self.loop.call_soon_threadsafe(self.events.put_nowait, event)
        except RuntimeError:  # the event loop is closed
            self.cancelled.set()

    def batch_key(self) -> tuple:
        return self.sampling.batch_key() + ((self.limit,) if self.beam else ())


def delta_sink(job: Job, choice: int):
    """A callback sending text shown for ``job``'s ``choice`` to its request."""
    index = job.choice_offset + choice
    return lambda delta: job.emit(("delta", index, delta, None))


class Engine:
    def __init__(self, model, tokenizer, defaults: DecodingOptions, ranker=None, safety=None,
                 metrics=None, sources=None) -> None:
        """``ranker``: MMI (causal models); ``sources``: a seq2seq model's ``SourceSettings``."""
        self.model = model
        self.tokenizer = tokenizer
        self.defaults = defaults
        self.ranker = ranker
        self.safety = safety
        self.metrics = metrics
        self.sources = sources
        self.seq2seq = bool(getattr(model.config, "is_encoder_decoder", False))
        self.bad_words = safety.bad_words_ids(tokenizer) if safety is not None else None
        self._decoders: dict[DecodingOptions, Any] = {}
        self.token_texts = None
        self._lock = threading.Lock()
        self.default_decoder = self.decoder_for(defaults)

    # -- preparing (request threads) ------------------------------------------------------------

    def decoder_for(self, options: DecodingOptions):
        """The ``Decoder`` for ``options``; its constructor validates them (a 400 if not)."""
        from dialogpt.decoding.generation import Decoder

        with self._lock:
            decoder = self._decoders.get(options)
            if decoder is None:
                try:
                    decoder = Decoder(self.model, self.tokenizer, options, self.ranker,
                                      sources=self.sources)
                except UserError as exc:
                    raise APIError(400, http_message(str(exc))) from exc
                if len(self._decoders) >= MAX_CACHED_DECODERS:
                    self._decoders.pop(next(iter(self._decoders)))
                self._decoders[options] = decoder
            return decoder

    def prepare(self, prompt: Prompt, sampling: Sampling, stream: bool = False) -> Job:
        decoder = self.decoder_for(sampling.options)
        if prompt.raw or prompt.ids is not None:
            return Job(prompt, sampling, decoder, self.as_given(prompt, sampling, decoder), 1,
                       stream)
        # A causal model reads the turns only: system messages carry no meaning for it (spec
        # serving.md §3), while knowledge it cannot use is refused by the Decoder.
        instruction = prompt.instruction if self.seq2seq else None
        try:
            with self._lock:  # tokenizers are not guaranteed thread-safe
                window = decoder.window(list(prompt.turns), prompt.knowledge or None, instruction)
        except UserError as exc:
            raise APIError(400, http_message(str(exc)), param="knowledge") from exc
        return Job(prompt, sampling, decoder, list(window.ids), window.turns_kept, stream)

    def as_given(self, prompt: Prompt, sampling: Sampling, decoder) -> list[int]:
        """The ids of a prompt decoded as given (token ids, or ``echo``'s text, no EOS added)."""
        if sampling.echo and self.seq2seq:
            raise APIError(400, "echo scores the prompt as a continuation, which needs a causal "
                                "(DialoGPT) model: a seq2seq model reads its prompt with the "
                                "encoder", param="echo")
        if prompt.ids is not None:
            ids = list(prompt.ids)
            if any(not 0 <= i < len(self.tokenizer) for i in ids):
                raise APIError(400, f"prompt holds token ids outside the vocabulary (0 to "
                                    f"{len(self.tokenizer) - 1})", param="prompt")
        else:
            with self._lock:
                ids = self.tokenizer.encode(prompt.turns[0])
        if not ids:
            raise APIError(400, "prompt is empty", param="prompt")
        room = (decoder.positions or 0) - sampling.options.max_length
        if not self.seq2seq and len(ids) > room:
            raise APIError(400, f"the prompt has {len(ids)} tokens; with max_tokens "
                                f"{sampling.options.max_length} at most {room} fit the "
                                f"model's {decoder.positions} positions", param="prompt")
        return ids

    def compatible(self, batch: Sequence[Job], job: Job) -> bool:
        """Whether ``job`` may join ``batch`` in one ``generate`` call."""
        if not batch:
            return True
        if job.batch_key() != batch[0].batch_key() or job.sampling.explicit_seed:
            return False
        if self.seq2seq:
            return True
        # Left-padded causal rows: each row's context + the batch's longest reply must fit.
        longest = max(max(other.limit for other in batch), job.limit)
        positions = job.decoder.positions
        return all(len(other.context_ids) + longest <= positions for other in (*batch, job))

    # -- decoding (the worker thread) -----------------------------------------------------------

    def raw_decode(self, ids: list[int]) -> str:
        return self.tokenizer.decode(list(ids), skip_special_tokens=True,
                                     clean_up_tokenization_spaces=False)

    def streams_rows(self, job: Job) -> bool:
        """Whether ``job``'s rows can show text while they are generated."""
        return (job.stream and not job.beam and job.decoder.candidates_per_context == 1
                and self.safety is None and job.sampling.logprobs is None)

    def generation_config(self, lead: Job, max_new_tokens: int):
        config = copy.deepcopy(lead.decoder.generation_config)
        config.max_new_tokens = max_new_tokens
        if not lead.beam:
            config.num_return_sequences = 1
        if lead.sampling.length_penalty is not None:
            config.length_penalty = lead.sampling.length_penalty
        if self.bad_words:
            config.bad_words_ids = self.bad_words
        return config

    def generate(self, jobs: Sequence[Job]) -> tuple[list[list[list[list[int]]]], list[RowText]]:
        """Token ids for every job, choice and candidate (cut at EOS and at the job's limit),
        and the ``RowText`` of every row."""
        import torch
        from transformers import StoppingCriteriaList

        lead = jobs[0]
        per_row = 1 if lead.beam else lead.decoder.candidates_per_context
        contexts: list[list[int]] = []
        rows: list[RowText] = []
        for job in jobs:
            streams = self.streams_rows(job)
            for choice in range(job.sampling.n):
                for _ in range(per_row):
                    on_delta = delta_sink(job, choice) if streams else None
                    rows.append(RowText(self.raw_decode, lead.decoder.eos_id, job.limit,
                                        job.sampling.stop, on_delta, job.cancelled))
                    contexts.append(job.context_ids)
        config = self.generation_config(lead, max(job.limit for job in jobs))
        if lead.sampling.explicit_seed:
            torch.manual_seed(lead.options.seed)
        kwargs = {} if lead.beam else {"stopping_criteria": StoppingCriteriaList(
            [row_stopping(rows)])}
        generated = lead.decoder.generate_ids(contexts, generation_config=config, **kwargs)
        if self.metrics is not None:
            self.metrics.observe("batch_size", len(contexts) * config.num_return_sequences)
            self.metrics.inc("generated_tokens_total",
                             sum(len(ids) for group in generated for ids in group))
        out: list[list[list[list[int]]]] = []
        index = 0
        for job in jobs:
            choices = []
            for _ in range(job.sampling.n):
                group = [ids[:job.limit] for context in generated[index:index + per_row]
                         for ids in context]
                index += per_row
                choices.append(group)
            out.append(choices)
        return out, rows

    def choose(self, job: Job, candidates: list[list[int]]) -> Choice:
        """The reply for one choice: MMI picks among candidates, as ``Decoder.respond`` does."""
        from dialogpt.decoding.rerank import choose_index

        texts = [final_text(self.raw_decode(ids), job.sampling.stop) for ids in candidates]
        scores: list[float] = []
        chosen = 0
        if job.decoder.ranker is not None and len(candidates) > 1:
            source = list(job.prompt.turns[len(job.prompt.turns) - job.turns_kept:])
            scores = job.decoder.ranker.score([source], [[text for text, _ in texts]])[0]
            chosen = choose_index(scores, job.options.mmi_temperature, job.decoder.rng)
        text, stopped = texts[chosen]
        ids = candidates[chosen]
        reason = "length" if len(ids) >= job.limit and not stopped else "stop"
        ended_by = "stop_sequence" if stopped else ("length" if reason == "length" else "eos")
        choice = Choice(text=text, finish_reason=reason, completion_tokens=len(ids),
                        prompt_tokens=len(job.context_ids), turns_kept=job.turns_kept,
                        candidates=[t for t, _ in texts] if scores else [], scores=scores,
                        ids=list(ids), ended_by=ended_by)
        if job.sampling.logprobs is not None or job.sampling.echo:
            choice = self.with_logprobs(job, choice)
        return choice

    def with_logprobs(self, job: Job, choice: Choice) -> Choice:
        """``choice`` with its tokens' (and, for ``echo``, the prompt's) log-probabilities: the
        model's log-softmax at each position of the context followed by the reply."""
        import torch

        from dialogpt.serving.logprobs import TokenText

        texts = self.token_texts or TokenText(self.tokenizer)
        self.token_texts = texts
        top_n = job.sampling.logprobs or 0
        context, ids = list(job.context_ids), list(choice.ids)
        ids += [job.decoder.eos_id] if choice.ended_by == "eos" else []
        with torch.inference_mode():
            if self.seq2seq:
                start = self.model.config.decoder_start_token_id
                logits = self.model(input_ids=torch.tensor([context]),
                                    decoder_input_ids=torch.tensor([[start, *ids]])).logits[0]
                scored, offset = ids, 0
            else:
                tokens = context + ids
                logits = self.model(input_ids=torch.tensor([tokens[:-1] or tokens])).logits[0]
                scored, offset = tokens[1:], len(context) - 1
            logprobs = torch.log_softmax(logits.float(), dim=-1)
            chosen = [logprobs[i, t].item() for i, t in enumerate(scored)]
            best = logprobs[:len(scored)].topk(top_n, dim=-1) if top_n else None
        entries = [texts.entry(t, chosen[i], list(zip(best.indices[i].tolist(),
                                                      best.values[i].tolist())) if best else [])
                   for i, t in enumerate(scored)]
        prompt = None
        if job.sampling.echo:
            prompt = [texts.entry(context[0], None)] + entries[:offset]
        return replace(choice, logprobs=entries[offset:offset + len(ids)] if ids else [],
                       prompt_logprobs=prompt)  # the ending EOS included (special)

    def count(self, name: str) -> None:
        if self.metrics is not None:
            self.metrics.inc(name)

    def make_safe(self, job: Job, choice: Choice) -> Choice:
        """Resample a blocked reply up to ``safety.retries`` times, then the neutral reply."""
        if self.safety is None or not self.safety.blocks(choice.text):
            return choice
        options = job.options if job.options.decoding == "sample" else replace(
            job.options, decoding="sample")
        retry = replace(job, sampling=replace(job.sampling, n=1, options=options,
                                              explicit_seed=False),
                        decoder=self.decoder_for(options), stream=False)
        for _ in range(self.safety.retries):
            self.count("safe_resamples_total")
            candidate = self.choose(retry, self.generate([retry])[0][0][0])
            if not self.safety.blocks(candidate.text):
                return candidate
        self.count("safe_replacements_total")
        return replace(choice, text=self.safety.neutral_reply, finish_reason="stop",
                       blocked=True, candidates=[], scores=[])

    def run_batch(self, jobs: Sequence[Job]) -> None:
        """Decode ``jobs`` together and send each its events: deltas, then ``("done", choices)``."""
        jobs = [job for job in jobs if not job.cancelled.is_set()]
        if not jobs:
            return
        generated, rows = self.generate(jobs)
        position = 0
        for job, groups in zip(jobs, generated):
            choices = []
            for number, candidates in enumerate(groups):
                choice = self.make_safe(job, self.choose(job, candidates))
                if self.streams_rows(job):
                    rows[position].finish(choice.text)
                elif job.stream:
                    job.emit(("delta", job.choice_offset + number, choice.text,
                              choice.logprobs))
                position += len(candidates) if not job.beam else 1
                choices.append(choice)
            job.emit(("done", job.choice_offset, choices))
