"""The engine's request and event types (pure dataclasses, no torch)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

FINISH_REASONS = ("eos", "stop", "length", "abort")
"""``eos``: the model's end-of-sequence token; ``stop``: a stop string or stop token id;
``length``: ``max_new_tokens`` (or the model's positions); ``abort``: cancelled."""

_ids = itertools.count()


def new_request_id() -> str:
    return f"req-{next(_ids)}"


@dataclass(frozen=True)
class SamplingParams:
    """How one request is decoded. Defaults: greedy, 64 new tokens, no logprobs.

    The logits processors run in Hugging Face ``generate``'s order (repetition penalty,
    no-repeat n-grams, banned sequences, minimum tokens, then temperature, top-k, top-p when
    sampling), so greedy output equals ``generate(do_sample=False)`` with the same settings.
    """

    max_new_tokens: int = 64
    """New tokens at most (0: only score the prompt, see ``prompt_logprobs``)."""
    min_new_tokens: int = 0
    """EOS (and stop token ids) are blocked until this many tokens were generated."""
    sample: bool = False
    """False: greedy (arg-max); True: sample from the processed distribution."""
    temperature: float = 1.0
    top_k: int = 0
    """Sampling: keep the k most likely tokens (0 = off)."""
    top_p: float = 1.0
    """Sampling: nucleus mass (1 = off)."""
    repetition_penalty: float = 1.0
    """CTRL penalty on tokens of the prompt and the output so far (1 = off)."""
    no_repeat_ngram_size: int = 0
    seed: int | None = None
    """Sampling: the request's own generator seed, so its tokens do not depend on which other
    requests share the batch; None = drawn from torch's global generator at submission."""
    stop: tuple[str, ...] = ()
    """Stop strings: the output ends before the first one (finish reason ``stop``)."""
    stop_token_ids: tuple[int, ...] = ()
    """Token ids ending the output besides EOS (kept out of the text, like EOS)."""
    bad_words_ids: tuple[tuple[int, ...], ...] = ()
    """Token sequences never generated (the last token of each is banned after its prefix)."""
    logprobs: int | None = None
    """None: no log-probabilities; N >= 0: the chosen token's and the N most likely ones'
    (log-softmax of the model's own logits, before any processor) for every new token."""
    prompt_logprobs: int | None = None
    """Causal models: None, or N >= 0: score every prompt token given the ones before it (the
    first has none), with the N most likely alternatives."""

    def __post_init__(self) -> None:
        problems = []
        if self.max_new_tokens < 0:
            problems.append("max_new_tokens must be >= 0")
        if not 0 <= self.min_new_tokens <= max(self.max_new_tokens, 0):
            problems.append("min_new_tokens must be between 0 and max_new_tokens")
        if self.temperature <= 0:
            problems.append("temperature must be > 0")
        if self.top_k < 0:
            problems.append("top_k must be >= 0")
        if not 0 < self.top_p <= 1:
            problems.append("top_p must be in (0, 1]")
        if self.repetition_penalty <= 0:
            problems.append("repetition_penalty must be > 0")
        if self.no_repeat_ngram_size < 0:
            problems.append("no_repeat_ngram_size must be >= 0")
        if (self.logprobs or 0) < 0 or (self.prompt_logprobs or 0) < 0:
            problems.append("logprobs and prompt_logprobs must be >= 0")
        if any(not s for s in self.stop):
            problems.append("stop strings must not be empty")
        if problems:
            raise ValueError("; ".join(problems))

    @classmethod
    def from_options(cls, options, **overrides) -> "SamplingParams":
        """The parameters of a ``DecodingOptions`` (greedy or sample; beam search is not an
        engine method: ``Decoder`` keeps it on Hugging Face ``generate``)."""
        if options.decoding == "beam":
            raise ValueError("beam search is not decoded by the engine")
        sample = options.decoding == "sample"
        values = dict(max_new_tokens=options.max_length, min_new_tokens=options.min_length,
                      sample=sample, repetition_penalty=options.repetition_penalty,
                      no_repeat_ngram_size=options.no_repeat_ngram_size)
        if sample:
            values.update(temperature=options.temperature, top_k=options.top_k,
                          top_p=options.top_p)
        values.update(overrides)
        return cls(**values)


@dataclass
class Request:
    """One sequence to decode.

    ``prompt_ids``: a causal model's context (the model continues it); a seq2seq model's
    encoder source (its decoder starts from the decoder start token).
    """

    prompt_ids: list[int]
    params: SamplingParams = field(default_factory=SamplingParams)
    request_id: str = field(default_factory=new_request_id)


@dataclass(frozen=True)
class TokenLogprob:
    """One position's log-probabilities: the token there and the ``top`` alternatives
    (``(token_id, logprob)``, most likely first)."""

    token_id: int
    logprob: float
    top: tuple[tuple[int, float], ...] = ()


@dataclass(frozen=True)
class TokenEvent:
    """What one engine step produced for one request.

    Every generated token gives one event (EOS and stop tokens included, with ``text`` "");
    the last event of a request has ``finished`` set (an abort gives one with no token).
    ``text``: the output text this token released; text that may still become a stop string,
    and incomplete UTF-8, are held back until decided (the pieces add up to the final text).
    """

    request_id: str
    token_id: int | None
    index: int
    """Position of the token among the request's new tokens (0-based)."""
    text: str = ""
    logprob: TokenLogprob | None = None
    finished: bool = False
    finish_reason: str | None = None
    completion: "Completion | None" = None
    """On the finishing event: the request's whole result."""


@dataclass
class Completion:
    """A finished request."""

    request_id: str
    prompt_ids: list[int]
    token_ids: list[int]
    """New tokens, without the EOS / stop token that ended them."""
    text: str
    """Their text (special tokens skipped, not stripped), cut before a stop string."""
    finish_reason: str
    logprobs: list[TokenLogprob] | None = None
    """One per generated token (the ending EOS / stop token included) when asked for."""
    prompt_logprobs: list[TokenLogprob | None] | None = None
    """One per prompt token when asked for (None for the first: nothing precedes it)."""
    submitted_step: int = 0
    """Engine step counter when the request was added, and when it finished: the difference
    is the steps it waited and decoded for."""
    finished_step: int = 0
