"""Requests mapped onto the decoding engine (``dialogpt.decoding.engine``), events mapped back.

``Engine.prepare`` turns a request into a ``Job`` in the caller's thread: it validates the
decoding options by building a ``Decoder`` for them (one per distinct option set, cached; the
model is shared) and windows the dialog with ``Decoder.window``, exactly as ``interact.py`` and
``generate.py`` do; a prompt sent as token ids, or with ``echo``, is taken as given.
``Engine.submit`` hands every choice (and, with MMI, every candidate of it) to the engine's
``EngineLoop`` as one engine ``Request``: they join the running batch at its next step and leave
at EOS, a stop string or their token limit (continuous batching). What stays here is protocol:
- token events become ``("delta", choice, text, tokens)`` events of the request (the reply is
  stripped, as ``Decoder.decode`` strips it: leading whitespace is dropped and trailing
  whitespace held back until more text follows), and ``("done", offset, choices)`` when every
  choice of the job has ended;
- MMI reranking and safe mode choose a reply only once its candidates are all done (a worker
  thread, not the engine's), so those replies stream whole; safe mode bans the blocklist while
  decoding and resamples a blocked reply up to ``retries`` times, then sends the neutral reply;
- beam search is not an engine method: it runs Hugging Face ``generate`` (``Decoder``) in the
  same worker thread, one request at a time, and streams whole;
- cancelling a job aborts its engine requests, which frees their rows at the next step.
"""

from __future__ import annotations

import asyncio
import copy
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

from dialogpt.cli import UserError
from dialogpt.decoding.options import DecodingOptions
from dialogpt.serving.errors import APIError
from dialogpt.serving.schemas import Choice, Prompt, Sampling, http_message
from dialogpt.serving.streaming import Stripped

MAX_CACHED_DECODERS = 64
ENDED_BY = {"eos": "eos", "stop": "stop_sequence", "length": "length"}


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
    handles: list = field(default_factory=list)
    """The engine requests in flight for this job."""
    generating: threading.Event = field(default_factory=threading.Event)
    """Set while Hugging Face ``generate`` (beam search) decodes this job in the worker."""
    choices: dict[int, Choice] = field(default_factory=dict)

    @property
    def options(self) -> DecodingOptions:
        return self.sampling.options

    @property
    def beam(self) -> bool:
        return self.options.decoding == "beam"

    def emit(self, event: tuple) -> None:
        """Hand ``event`` to the request's coroutine (thread-safe; dropped if it is gone)."""
        if self.loop is None or self.events is None or self.cancelled.is_set():
            return
        try:
            self.loop.call_soon_threadsafe(self.events.put_nowait, event)
        except RuntimeError:  # the event loop is closed
            self.cancelled.set()


class ChoiceRun:
    """One choice of a job: its candidates' engine requests and their completions."""

    def __init__(self, job: Job, index: int, candidates: int) -> None:
        self.job, self.index = job, index
        self.completions: list = [None] * candidates
        self.streams = job.stream and candidates == 1
        self.text = Stripped()


class Engine:
    def __init__(self, model, tokenizer, defaults: DecodingOptions, ranker=None, safety=None,
                 metrics=None, sources=None, max_rows: int = 32) -> None:
        """``ranker``: MMI (causal models); ``sources``: a seq2seq model's ``SourceSettings``;
        ``max_rows``: sequences the engine decodes together."""
        from dialogpt.decoding.engine import Engine as Core
        from dialogpt.decoding.engine import EngineLoop, supports
        from dialogpt.serving.logprobs import TokenText

        self.model = model
        self.tokenizer = tokenizer
        self.defaults = defaults
        self.ranker = ranker
        self.safety = safety
        self.metrics = metrics
        self.sources = sources
        self.seq2seq = bool(getattr(model.config, "is_encoder_decoder", False))
        self.bad_words = tuple(tuple(ids) for ids in safety.bad_words_ids(tokenizer)) \
            if safety is not None else ()
        self._decoders: dict[DecodingOptions, Any] = {}
        self._lock = threading.Lock()
        self.token_texts = TokenText(tokenizer)
        self.default_decoder = self.decoder_for(defaults)
        self.eos_id = self.default_decoder.eos_id
        self.loop = EngineLoop(Core(model, tokenizer, eos_id=self.eos_id, max_rows=max_rows,
                                    stream_text=True)) if supports(model) else None
        self.worker = ThreadPoolExecutor(1, thread_name_prefix="rerank-beam")
        """Reranking, safe-mode retries and beam search, off the engine's thread."""

    def start(self) -> None:
        if self.loop is not None:
            self.loop.start()

    def stop(self) -> None:
        if self.loop is not None:
            self.loop.stop()
        self.worker.shutdown(wait=False, cancel_futures=True)

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
                    raise APIError(400, http_message(exc)) from exc
                if len(self._decoders) >= MAX_CACHED_DECODERS:
                    self._decoders.pop(next(iter(self._decoders)))
                self._decoders[options] = decoder
            return decoder

    def prepare(self, prompt: Prompt, sampling: Sampling, stream: bool = False) -> Job:
        decoder = self.decoder_for(sampling.options)
        if (sampling.logprobs is not None or sampling.echo) and (
                sampling.options.decoding == "beam" or self.loop is None):
            raise APIError(400, "log-probabilities come with greedy or sampled decoding, not "
                                "beam search", param="logprobs")
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
            raise APIError(400, http_message(exc), param="knowledge") from exc
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

    # -- submitting ------------------------------------------------------------------------------

    def params(self, job: Job, seed: int | None, options: DecodingOptions | None = None):
        from dialogpt.decoding.engine import SamplingParams

        options = options or job.options
        return SamplingParams.from_options(
            options, seed=seed, stop=job.sampling.stop, bad_words_ids=self.bad_words,
            logprobs=job.sampling.logprobs, prompt_logprobs=(
                job.sampling.logprobs or 0) if job.sampling.echo else None)

    def submit(self, job: Job) -> None:
        """Start every choice of ``job`` (engine requests, or beam search in the worker)."""
        if job.beam or self.loop is None:
            self.worker.submit(self._guarded, job, self.run_generate, job)
            return
        per = job.decoder.candidates_per_context
        seeds = self.seeds(job, job.sampling.n * per)
        for index in range(job.sampling.n):
            run = ChoiceRun(job, index, per)
            for number in range(per):
                self._request(run, number, self.params(job, seeds[index * per + number]))

    @staticmethod
    def seeds(job: Job, count: int) -> list[int | None]:
        """A request's ``seed`` gives each of its engine requests its own seed, drawn in order
        from a generator seeded with it: what ``torch.manual_seed(seed)`` before
        ``Decoder.respond`` gives, so the server's choices reproduce the Decoder's."""
        if not job.sampling.explicit_seed or job.options.decoding != "sample":
            return [None] * count
        import torch

        generator = torch.Generator().manual_seed(job.options.seed)
        return [int(torch.randint(2 ** 62, (1,), generator=generator)) for _ in range(count)]

    def _request(self, run: ChoiceRun, number: int, params) -> None:
        from dialogpt.decoding.engine import Request

        request = Request(list(run.job.context_ids), params)
        try:
            handle = self.loop.submit(request, lambda event: self._on_event(run, number, event))
        except ValueError as exc:
            raise APIError(400, str(exc)) from exc
        run.job.handles.append(handle)

    def cancel(self, job: Job) -> None:
        job.cancelled.set()
        for handle in job.handles:
            if not handle.done.is_set():
                handle.abort()

    # -- events (the engine's thread) ------------------------------------------------------------

    def _on_event(self, run: ChoiceRun, number: int, event) -> None:
        job = run.job
        if isinstance(event, BaseException):
            job.emit(("error", APIError(500, f"generation failed: {type(event).__name__}: "
                                             f"{event}")))
            return
        if event.token_id is not None and self.metrics is not None:
            self.metrics.inc("generated_tokens_total")
        if run.streams and self.safety is None and event.finish_reason != "abort":
            tokens = self.tokens([event.token_id], [event.logprob]) if (
                job.sampling.logprobs is not None and event.token_id is not None) else None
            text = run.text.feed(event.text)
            if text or tokens:
                job.emit(("delta", job.choice_offset + run.index, text, tokens))
        if event.finished:
            run.completions[number] = event.completion
            if event.finish_reason != "abort" and all(run.completions):
                self.worker.submit(self._guarded, job, self.finish, run)

    def _guarded(self, job: Job, function, *args) -> None:
        try:
            function(*args)
        except APIError as error:
            job.emit(("error", error))
        except Exception as exc:  # a failure ends this request, not the server
            job.emit(("error", APIError(500, f"generation failed: {type(exc).__name__}: "
                                             f"{exc}")))

    # -- choosing a reply (the worker thread) ----------------------------------------------------

    def tokens(self, ids, logprobs) -> list:
        return [self.token_texts.entry(token, lp.logprob if lp else None,
                                       list(lp.top) if lp else [])
                for token, lp in zip(ids, logprobs)]

    def choice(self, job: Job, completion) -> Choice:
        reason = completion.finish_reason
        ids = list(completion.token_ids)
        choice = Choice(text=completion.text.strip(), finish_reason="length" if reason ==
                        "length" else "stop", completion_tokens=len(ids),
                        prompt_tokens=len(job.context_ids), turns_kept=job.turns_kept, ids=ids,
                        ended_by=ENDED_BY.get(reason, "eos"))
        if completion.logprobs is not None:
            ended = ids + [self.eos_id] if reason == "eos" else ids
            choice.logprobs = self.tokens(ended, completion.logprobs)
        if completion.prompt_logprobs is not None:
            choice.prompt_logprobs = self.tokens(completion.prompt_ids,
                                                 completion.prompt_logprobs)
        return choice

    def finish(self, run: ChoiceRun) -> None:
        job = run.job
        candidates = [self.choice(job, completion) for completion in run.completions]
        self.done(job, run.index, self.rerank(job, candidates), streamed=run.streams)

    def rerank(self, job: Job, candidates: list[Choice]) -> Choice:
        """MMI picks among candidates, as ``Decoder.respond`` does."""
        from dialogpt.decoding.rerank import choose_index

        if job.decoder.ranker is None or len(candidates) < 2:
            return candidates[0]
        source = list(job.prompt.turns[len(job.prompt.turns) - job.turns_kept:])
        scores = job.decoder.ranker.score([source], [[c.text for c in candidates]])[0]
        chosen = choose_index(scores, job.options.mmi_temperature, job.decoder.rng)
        return replace(candidates[chosen], candidates=[c.text for c in candidates],
                       scores=scores)

    def done(self, job: Job, index: int, choice: Choice, streamed: bool) -> None:
        choice = self.make_safe(job, choice)
        if job.stream and not (streamed and self.safety is None):
            job.emit(("delta", job.choice_offset + index, choice.text, choice.logprobs))
        job.choices[index] = choice
        if len(job.choices) == job.sampling.n:
            job.emit(("done", job.choice_offset, [job.choices[i] for i in range(job.sampling.n)]))

    def count(self, name: str) -> None:
        if self.metrics is not None:
            self.metrics.inc(name)

    def make_safe(self, job: Job, choice: Choice) -> Choice:
        """Resample a blocked reply up to ``safety.retries`` times, then the neutral reply."""
        from dialogpt.decoding.engine import Request

        if self.safety is None or not self.safety.blocks(choice.text):
            return choice
        options = replace(job.options, decoding="sample")
        for _ in range(self.safety.retries):
            self.count("safe_resamples_total")
            params = self.params(job, None, options)
            handle = self.loop.submit(Request(list(job.context_ids), params))
            job.handles.append(handle)
            candidate = self.choice(job, handle.result())
            if job.cancelled.is_set() or not self.safety.blocks(candidate.text):
                return candidate
        self.count("safe_replacements_total")
        return replace(choice, text=self.safety.neutral_reply, finish_reason="stop",
                       blocked=True, candidates=[], scores=[], logprobs=None)

    def run_generate(self, job: Job) -> None:
        """Beam search (or a model the engine does not run): Hugging Face ``generate``."""
        if job.cancelled.is_set():
            return
        decoder = job.decoder
        config = copy.deepcopy(decoder.generation_config)
        if job.sampling.length_penalty is not None:
            config.length_penalty = job.sampling.length_penalty
        if self.bad_words:
            config.bad_words_ids = [list(ids) for ids in self.bad_words]
        job.generating.set()
        try:
            groups = decoder.generate_ids([job.context_ids] * job.sampling.n,
                                          generation_config=config,
                                          stopping_criteria=_stop_when(job.cancelled))
        finally:
            job.generating.clear()
        if job.cancelled.is_set():
            return
        for index, group in enumerate(groups):
            candidates = []
            for ids in group:
                text = self.raw_decode(ids)
                cut = min((p for p in (text.find(s) for s in job.sampling.stop) if p >= 0),
                          default=-1)
                reason = "stop" if cut >= 0 else ("length" if len(ids) >= job.options.max_length
                                                  else "eos")
                candidates.append(self.choice(job, _Finished(
                    job.context_ids, ids, text[:cut] if cut >= 0 else text, reason)))
            self.done(job, index, self.rerank(job, candidates), streamed=False)

    def raw_decode(self, ids: list[int]) -> str:
        return self.tokenizer.decode(list(ids), skip_special_tokens=True,
                                     clean_up_tokenization_spaces=False)


def _stop_when(cancelled: threading.Event):
    """Stopping criteria ending ``generate`` at its next step once ``cancelled`` is set (a
    client that left, or ``--request_timeout``), so beam search frees the worker too."""
    import torch
    from transformers import StoppingCriteria, StoppingCriteriaList

    class Cancelled(StoppingCriteria):
        def __call__(self, input_ids, scores, **kwargs):
            return torch.full((input_ids.shape[0],), cancelled.is_set(), dtype=torch.bool,
                              device=input_ids.device)

    return StoppingCriteriaList([Cancelled()])


@dataclass
class _Finished:
    """A ``generate`` result in the shape of the engine's ``Completion``."""

    prompt_ids: list[int]
    token_ids: list[int]
    text: str
    finish_reason: str
    logprobs: list | None = None
    prompt_logprobs: list | None = None
