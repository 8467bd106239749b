"""Request bodies -> what to decode (``Prompt``) and how (``Sampling``), with OpenAI-style errors.

Bodies are checked in two steps. The pydantic models below check shapes and types (a missing
field or a wrong type is a 422 naming the field; unknown keys are ignored, as the official client
and vLLM expect). Then the values are mapped onto ``DecodingOptions``, which validates them exactly
as the command-line tools do: a bad combination is a 400 whose message names the request
parameters to change.

Decoding method of a request (``DecodingOptions.decoding``), first rule that applies:
1. an explicit ``decoding`` (``greedy|sample|beam``) extra field;
2. ``temperature == 0`` -> greedy (OpenAI's convention);
3. ``do_sample`` (``/generate``): true -> sample, false -> beam when ``num_beams > 1`` else greedy;
4. any of ``temperature``, ``top_p``, ``top_k`` set -> sample;
5. ``num_beams`` set -> beam;
6. otherwise the server's ``--decoding``.
Unset parameters take the server's flags (``serve.py --top_k ...``).

What the server cannot honour is refused, never silently ignored (``refuse_unsupported``): tool
calling, ``response_format`` other than text, ``logit_bias``, non-zero presence/frequency
penalties, ``best_of`` > 1, and image, audio or file content parts are a 400 naming the field.

Log-probabilities (``Sampling.logprobs``: None = none, 0 = the chosen token's, N = also the N
most likely) come from the engine's log-softmax of each step. ``echo`` (completions) scores the
prompt as given, tokenised without the turn separator (``Prompt.raw``), which is what
loglikelihood clients (lm-evaluation-harness) expect; a prompt of token ids is always as given.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from dialogpt.cli import UserError
from dialogpt.decoding.options import DecodingOptions, OptionError
from dialogpt.serving.errors import APIError
from dialogpt.serving.refusals import refuse_unsupported, refuse_unsupported_tgi, unsupported

MAX_STOP_SEQUENCES = 4
MAX_LOGPROBS = 20
INT_LIMIT = 2 ** 31 - 1
"""The largest count or length a request may name (torch's int32 sizes)."""

# Every number a request carries has a range and is finite (a value outside is a 400 naming the
# field, see ``routes.validate``): one out-of-range float (``length_penalty: 1e308``) or seed
# (``2**70``) must never reach torch.
Seed = Annotated[int, Field(ge=0, lt=2 ** 64)]
Count = Annotated[int, Field(ge=0, le=INT_LIMIT)]
Positive = Annotated[int, Field(ge=1, le=INT_LIMIT)]
Length = Annotated[int, Field(le=INT_LIMIT)]  # >= 1 is DecodingOptions' check (its message)
Finite = Annotated[float, Field(allow_inf_nan=False)]  # the range is DecodingOptions' check
Temperature = Annotated[float, Field(ge=0, le=100, allow_inf_nan=False)]
Probability = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]
Penalty = Annotated[float, Field(gt=0, le=100, allow_inf_nan=False)]
LengthPenalty = Annotated[float, Field(ge=-10, le=10, allow_inf_nan=False)]
OpenAIPenalty = Annotated[float, Field(ge=-2, le=2, allow_inf_nan=False)]


@dataclass(frozen=True)
class Limits:
    """What one request may ask of the server (``serve.py --max_n --max_beams
    --max_new_tokens``; ``max_new_tokens`` None = no cap beyond the model's positions)."""

    max_n: int = 8
    max_beams: int = 8
    max_new_tokens: int | None = None

    @property
    def max_rows(self) -> int:
        """Sequences one request may decode at once: ``n`` times its beams (or MMI candidates)."""
        return max(self.max_n, self.max_beams)


@dataclass(frozen=True)
class Prompt:
    """One dialog to answer: its turns (oldest first; the last is answered) and grounding.

    ``instruction`` / ``knowledge`` (seq2seq models only): None = the server's defaults
    (``--instruction``, ``--knowledge``, or what the checkpoint recorded).
    """

    turns: tuple[str, ...]
    instruction: str | None = None
    knowledge: str | None = None
    raw: bool = False
    """``turns[0]`` is the whole prompt, tokenised as given (no EOS after it): ``echo``."""
    ids: tuple[int, ...] | None = None
    """A prompt sent as token ids (OpenAI completions): decoded as given."""


@dataclass(frozen=True)
class Sampling:
    """Per-request decoding settings."""

    options: DecodingOptions
    n: int = 1
    stop: tuple[str, ...] = ()
    length_penalty: float | None = None
    explicit_seed: bool = False
    """The request set ``seed``: its sequences' generators start from it (reproducible)."""
    logprobs: int | None = None
    """None: no log-probabilities; 0: the chosen token's; N: also the N most likely."""
    echo: bool = False
    """Completions: the prompt's tokens (and their log-probabilities) precede the reply."""


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore")

    model: str | None = None
    max_tokens: Length | None = None
    temperature: Temperature | None = None
    top_p: Finite | None = None
    n: Count = 1
    stop: str | list[str] | None = None
    seed: Seed | None = None
    stream: bool = False
    stream_options: dict[str, Any] | None = None
    # vLLM's extras that fit our decoder, and our own decoding names.
    top_k: Count | None = None
    repetition_penalty: Penalty | None = None
    min_tokens: Count | None = None
    length_penalty: LengthPenalty | None = None
    decoding: Literal["greedy", "sample", "beam"] | None = None
    num_beams: Positive | None = None
    no_repeat_ngram_size: Count | None = None
    num_candidates: Positive | None = None
    mmi_temperature: Temperature | None = None
    knowledge: str | None = None
    instruction: str | None = None
    # OpenAI fields this server does not implement: refused when set (refuse_unsupported).
    tools: list[Any] | None = None
    tool_choice: Any = None
    functions: list[Any] | None = None
    function_call: Any = None
    response_format: Any = None
    logit_bias: dict[str, Any] | None = None
    presence_penalty: OpenAIPenalty | None = None
    frequency_penalty: OpenAIPenalty | None = None

    @property
    def include_usage(self) -> bool:
        return bool((self.stream_options or {}).get("include_usage"))


class ContentPart(BaseModel):
    model_config = ConfigDict(extra="ignore")
    type: str = "text"
    text: str = ""


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")
    role: Literal["system", "developer", "user", "assistant"]
    content: str | list[ContentPart] | None = None


class ChatBody(_Body):
    messages: list[ChatMessage]
    max_completion_tokens: Length | None = None
    logprobs: bool = False
    top_logprobs: Count | None = None


class CompletionBody(_Body):
    prompt: str | list[str] | list[int] | list[list[int]]  # ids: checked against the vocabulary
    logprobs: Count | None = None
    echo: bool = False
    best_of: Positive | None = None


class HFParameters(BaseModel):
    model_config = ConfigDict(extra="ignore")
    max_new_tokens: Length | None = None
    do_sample: bool | None = None
    temperature: Temperature | None = None
    top_k: Count | None = None
    top_p: Finite | None = None
    repetition_penalty: Penalty | None = None
    no_repeat_ngram_size: Count | None = None
    num_beams: Positive | None = None
    stop: list[str] = Field(default_factory=list)
    seed: Seed | None = None
    return_full_text: bool | None = False
    decoding: Literal["greedy", "sample", "beam"] | None = None
    details: bool = False
    decoder_input_details: bool = False
    top_n_tokens: Count | None = None
    # TGI parameters this server does not implement: refused when set (refuse_unsupported_tgi).
    best_of: Positive | None = None
    typical_p: Probability | None = None
    truncate: Count | None = None
    watermark: bool = False
    frequency_penalty: OpenAIPenalty | None = None
    grammar: Any = None
    adapter_id: str | None = None


class HFBody(BaseModel):
    model_config = ConfigDict(extra="ignore")
    inputs: str
    parameters: HFParameters = Field(default_factory=HFParameters)
    stream: bool = False
    knowledge: str | None = None
    instruction: str | None = None


class GodelBody(BaseModel):
    """GODEL's example server: ``{"msg": [turns], "knowledge": str}`` -> ``{"response": str}``."""

    model_config = ConfigDict(extra="ignore")
    msg: list[str]
    knowledge: str = ""
    instruction: str | None = None


# -- messages ------------------------------------------------------------------------------------

_FIELD_NAMES = {"max_length": "max_tokens", "min_length": "min_tokens",
                "mmi_model": "the server's --mmi_model"}


def request_name(field: str) -> str:
    """A request's name for a ``DecodingOptions`` field (a server flag where no request sets it)."""
    return _FIELD_NAMES.get(field, field)


def http_message(exc: UserError) -> str:
    """A decoding error worded for a request: an ``OptionError``'s fields by their request names."""
    return exc.render(request_name) if isinstance(exc, OptionError) else str(exc)


def normalise(text: str) -> str:
    """Whitespace normalised as ``prepro.py`` and ``interact.py`` do."""
    return " ".join(text.split())


def message_text(message: ChatMessage, index: int = 0) -> str:
    if isinstance(message.content, list):
        for number, part in enumerate(message.content):
            if part.type != "text":
                raise unsupported(f"messages[{index}].content[{number}]",
                                  f"{part.type!r} content parts are not supported (the model "
                                  "reads text only); send text parts")
        return " ".join(part.text for part in message.content)
    return message.content or ""


def chat_prompt(body: ChatBody) -> Prompt:
    """Spec §3: user/assistant messages are the turns; system messages the instruction."""
    if not body.messages:
        raise APIError(400, "messages is empty: send at least one user message",
                       param="messages")
    turns: list[str] = []
    instructions: list[str] = []
    for index, message in enumerate(body.messages):
        text = normalise(message_text(message, index))
        if message.role in ("system", "developer"):
            if text:
                instructions.append(text)
            continue
        if not text:
            raise APIError(400, f"messages[{index}].content is empty: every user and assistant "
                                "message needs text", param=f"messages[{index}].content")
        turns.append(text)
    if not turns:
        raise APIError(400, "messages holds no user or assistant message to answer",
                       param="messages")
    instruction = body.instruction
    if instruction is None and instructions:
        instruction = " ".join(instructions)
    return Prompt(tuple(turns), instruction, body.knowledge)


def text_prompt(text: str, param: str, knowledge: str | None = None,
                instruction: str | None = None) -> Prompt:
    """A completion prompt: turns joined by `` EOS `` (as in the TSV and GODEL's ``Context``)."""
    turns = [normalise(turn) for turn in text.split(" EOS ")]
    if not any(turns):
        raise APIError(400, f"{param} is empty: send the dialog, turns joined by ' EOS '",
                       param=param)
    if not all(turns):
        raise APIError(400, f"{param} has an empty turn (turns are joined by ' EOS ')",
                       param=param)
    return Prompt(tuple(turns), instruction, knowledge)


# -- decoding settings -----------------------------------------------------------------------------

def _method(explicit: str | None, temperature: float | None, do_sample: bool | None,
            sampling_set: bool, num_beams: int | None) -> str | None:
    if explicit:
        return explicit
    if temperature == 0:
        return "greedy"
    if do_sample is not None:
        return "sample" if do_sample else ("beam" if (num_beams or 1) > 1 else "greedy")
    if sampling_set:
        return "sample"
    if num_beams is not None:
        return "beam"
    return None


def decoding_options(defaults: DecodingOptions, *, max_tokens: int | None,
                     temperature: float | None, top_p: float | None, top_k: int | None,
                     do_sample: bool | None = None, **fields: Any) -> DecodingOptions:
    """``defaults`` with the request's values laid over, validated as the CLIs validate."""
    method = _method(fields.pop("decoding", None), temperature, do_sample,
                     any(v is not None for v in (temperature, top_p, top_k)),
                     fields.get("num_beams"))
    changes = {name: value for name, value in fields.items() if value is not None}
    if method:
        changes["decoding"] = method
    if max_tokens is not None:
        changes["max_length"] = max_tokens
    if temperature:
        changes["temperature"] = temperature
    if top_p is not None:
        changes["top_p"] = top_p
    if top_k is not None:
        changes["top_k"] = top_k
    try:
        return replace(defaults, **changes)
    except UserError as exc:
        raise APIError(400, http_message(exc)) from exc


def stop_sequences(stop: str | list[str] | None) -> tuple[str, ...]:
    stops = [stop] if isinstance(stop, str) else list(stop or [])
    if len(stops) > MAX_STOP_SEQUENCES:
        raise APIError(400, f"stop takes at most {MAX_STOP_SEQUENCES} sequences, got "
                            f"{len(stops)}", param="stop")
    if any(not s for s in stops):
        raise APIError(400, "stop sequences must not be empty strings", param="stop")
    return tuple(stops)


def logprob_count(value: int | None, param: str) -> int | None:
    if value is not None and not 0 <= value <= MAX_LOGPROBS:
        raise APIError(400, f"{param} must be between 0 and {MAX_LOGPROBS}, got {value}",
                       param=param)
    return value


def chat_logprobs(body: ChatBody) -> int | None:
    """OpenAI chat: ``logprobs: true`` asks for them, ``top_logprobs`` for the N best too."""
    if body.top_logprobs is not None and not body.logprobs:
        raise APIError(400, "top_logprobs needs logprobs: true", param="top_logprobs")
    if not body.logprobs:
        return None
    return logprob_count(body.top_logprobs or 0, "top_logprobs")


def check_limits(options: DecodingOptions, n: int, limits: Limits, reranking: int = 0) -> None:
    """``n``, beams, MMI candidates and new tokens within what the server allows (a 400 naming
    the limit): one request must not take the worker for minutes or its memory. ``reranking``:
    the server's own ``--num_candidates`` when it reranks (always allowed), else 0."""
    if not 1 <= n <= limits.max_n:
        raise APIError(400, f"n must be between 1 and {limits.max_n} (the server's --max_n), "
                            f"got {n}", param="n")
    beams = options.num_beams if options.decoding == "beam" else 1
    if beams > limits.max_beams:
        raise APIError(400, f"num_beams {beams} is over the server's limit of {limits.max_beams} "
                            "(--max_beams)", param="num_beams")
    per_choice = max(beams, options.num_candidates if reranking else 1)
    allowed = max(limits.max_rows, reranking)
    if n * per_choice > allowed:
        name = "num_beams" if beams >= per_choice else "num_candidates"
        raise APIError(400, f"n * {name} = {n * per_choice} sequences is over the server's limit "
                            f"of {allowed} per request (the larger of --max_n, --max_beams"
                            f"{' and --num_candidates' if reranking else ''}): ask for fewer "
                            f"choices or {name}", param="n")
    if limits.max_new_tokens is not None and options.max_length > limits.max_new_tokens:
        raise APIError(400, f"max_tokens {options.max_length} is over the server's limit of "
                            f"{limits.max_new_tokens} new tokens (--max_new_tokens)",
                       param="max_tokens")


def _sampling(options: DecodingOptions, n: int, stop, seed: int | None,
              length_penalty: float | None, max_n: int, logprobs: int | None = None,
              echo: bool = False) -> Sampling:
    if not 1 <= n <= max_n:
        raise APIError(400, f"n must be between 1 and {max_n} (the server's --max_n), got {n}",
                       param="n")
    if seed is not None:
        options = replace(options, seed=seed)
    return Sampling(options=options, n=n, stop=stop_sequences(stop),
                    length_penalty=length_penalty, explicit_seed=seed is not None,
                    logprobs=logprobs, echo=echo)


def openai_sampling(body: _Body, defaults: DecodingOptions, max_n: int) -> Sampling:
    refuse_unsupported(body)
    max_tokens = body.max_tokens
    if isinstance(body, ChatBody) and body.max_completion_tokens is not None:
        max_tokens = body.max_completion_tokens
    if isinstance(body, ChatBody):
        logprobs, echo = chat_logprobs(body), False
    else:
        logprobs, echo = logprob_count(body.logprobs, "logprobs"), body.echo
    options = decoding_options(
        defaults, max_tokens=max_tokens, temperature=body.temperature, top_p=body.top_p,
        top_k=body.top_k, decoding=body.decoding, repetition_penalty=body.repetition_penalty,
        num_beams=body.num_beams, no_repeat_ngram_size=body.no_repeat_ngram_size,
        num_candidates=body.num_candidates, mmi_temperature=body.mmi_temperature,
        min_length=body.min_tokens)
    return _sampling(options, body.n, body.stop, body.seed, body.length_penalty, max_n,
                     logprobs, echo)


def hf_sampling(parameters: HFParameters, defaults: DecodingOptions, max_n: int) -> Sampling:
    """TGI's parameters; ``details`` asks for the chosen tokens' log-probabilities."""
    refuse_unsupported_tgi(parameters)
    top_n = parameters.top_n_tokens
    if top_n is not None:
        logprob_count(top_n, "parameters.top_n_tokens")
    logprobs = (top_n or 0) if parameters.details or top_n else None
    options = decoding_options(
        defaults, max_tokens=parameters.max_new_tokens, temperature=parameters.temperature,
        top_p=parameters.top_p, top_k=parameters.top_k, do_sample=parameters.do_sample,
        decoding=parameters.decoding, repetition_penalty=parameters.repetition_penalty,
        num_beams=parameters.num_beams, no_repeat_ngram_size=parameters.no_repeat_ngram_size)
    return _sampling(options, 1, parameters.stop, parameters.seed, None, max_n, logprobs,
                     parameters.decoder_input_details)


@dataclass
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens,
                "total_tokens": self.prompt_tokens + self.completion_tokens}


@dataclass
class Choice:
    """One finished response."""

    text: str
    finish_reason: str
    """``stop`` (EOS or a stop sequence) or ``length`` (``max_tokens`` reached)."""
    completion_tokens: int
    prompt_tokens: int
    turns_kept: int = 0
    blocked: bool = False
    """Safe mode replaced it with the neutral reply."""
    candidates: list[str] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)
    ids: list[int] = field(default_factory=list)
    """The reply's token ids (EOS excluded)."""
    ended_by: str = "eos"
    """``eos``, ``stop_sequence`` or ``length`` (TGI's finish reasons tell them apart)."""
    logprobs: list | None = None
    """With ``Sampling.logprobs``: one ``logprobs.TokenLogprob`` per reply token."""
    prompt_logprobs: list | None = None
    """With ``Sampling.echo``: one per prompt token, the first without a log-probability."""
