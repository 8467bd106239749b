"""Decoding flags shared by ``interact.py``, ``generate.py`` and ``serve.py``.

``DecodingOptions`` is the single source of truth: each field is a flag (``dialogpt.config.flag``),
the entry points parse the options from them (``dialogpt.decoding.decoder_config``) and the fields
validate themselves, ``generation_kwargs`` turns them into Hugging Face ``GenerationConfig``
fields. Invalid settings raise ``OptionError``, worded in field names that each front end
renders as its users know them (flags here, JSON fields in the server). Every Hugging Face
default that would otherwise leak in from a model's ``generation_config.json`` (``top_k=50``,
``max_length=20``...) is set explicitly.

``--preset`` (:data:`PRESETS`) sets several flags at once to the decoding settings of a published
source (``grounded.md`` §6); flags given explicitly win over the preset. ``max_length`` and
``min_length`` count NEW tokens for both model kinds (Hugging Face's ``max_length`` of an
encoder-decoder also counts the decoder's start token: the cards' 128 / 8 are 127 / 7 new tokens
there; ours are 128 / 8).
"""

from __future__ import annotations

import string
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dialogpt.cli import UserError, seed_type
from dialogpt.config import flag

DECODING_METHODS = ("greedy", "sample", "beam")

PRESETS: dict[str, dict[str, Any]] = {
    # The GODEL v1.1 model cards' example: model.generate(max_length=128, min_length=8,
    # top_p=0.9, do_sample=True).
    "card": {"decoding": "sample", "max_length": 128, "min_length": 8, "top_p": 0.9, "top_k": 0},
    # The GODEL repository's example server: generate(max_length=128, min_length=32, top_k=10,
    # no_repeat_ngram_size=4) without do_sample, i.e. greedy search: its top_k=10 is kept but only
    # acts with --decoding sample.
    "server": {"decoding": "greedy", "max_length": 128, "min_length": 32, "top_k": 10,
               "no_repeat_ngram_size": 4},
}
"""``--preset NAME``: flag values from a published source; explicit flags override them."""


def describe(values: dict[str, Any]) -> str:
    return " ".join(f"--{key} {value}" for key, value in values.items())


PRESET_HELP = ("set several decoding flags at once; flags given explicitly win. "
               + "; ".join(f"{name}: {describe(values)}" for name, values in PRESETS.items()))


def flag_name(field: str) -> str:
    """The command line's name for a decoding field."""
    return f"--{field}"


class OptionError(UserError):
    """Invalid decoding settings. ``template`` names each field as ``{field}``; a front end
    renders it with its own names for the fields (``render``).

    ``str()`` is the command line's wording (``--top_k must be >= 0``): a ``UserError`` that
    reaches ``run_main`` is printed as it is. The server renders its JSON field names.
    """

    def __init__(self, template: str) -> None:
        self.template = template
        self.fields = tuple(dict.fromkeys(
            name for _, name, _, _ in string.Formatter().parse(template) if name))
        super().__init__(self.render(flag_name))

    def render(self, name: Callable[[str], str]) -> str:
        return self.template.format_map({field: name(field) for field in self.fields})


FLAG_GROUP = "decoding"
"""The ``--help`` section of the decoding flags (``--preset`` joins it)."""


@dataclass(frozen=True)
class DecodingOptions:
    """How responses are decoded; each field is also a flag of ``generate.py``, ``interact.py``
    and ``serve.py`` (``dialogpt.decoding.decoder_config``)."""

    decoding: str = flag("greedy", "greedy: most likely token each step (deterministic); "
                         "sample: top-k/top-p sampling at --temperature; beam: beam search",
                         FLAG_GROUP, choices=DECODING_METHODS)
    top_k: int = flag(0, "sample: keep only the k most likely tokens (0 = off)", FLAG_GROUP,
                      kind=int)
    top_p: float = flag(1.0, "sample: nucleus sampling mass (1.0 = off)", FLAG_GROUP, kind=float)
    temperature: float = flag(1.0, "sample: softmax temperature", FLAG_GROUP, kind=float)
    num_beams: int = flag(4, "beam: beams (raised to --num_candidates when reranking)", FLAG_GROUP,
                          kind=int)
    no_repeat_ngram_size: int = flag(0, "forbid repeating any n-gram of this size in context + "
                                     "response (0 = off)", FLAG_GROUP, kind=int)
    repetition_penalty: float = flag(1.0, "CTRL-style penalty on tokens already present (1.0 = "
                                     "off)", FLAG_GROUP, kind=float)
    max_length: int = flag(64, "maximum NEW tokens of a response (not counting the context); "
                           "generation stops earlier at EOS", FLAG_GROUP, kind=int)
    min_length: int = flag(0, "minimum NEW tokens of a response: EOS is blocked until then (0 = "
                           "off)", FLAG_GROUP, kind=int)
    max_history: int = flag(0, "keep at most this many most recent turns (both speakers count, "
                            "the newest message included) in the context (0 = all that fit)",
                            FLAG_GROUP, kind=int)
    max_context_tokens: int = flag(0, "at most this many context tokens (0 = model positions "
                                   "minus --max_length); older turns that do not fit are "
                                   "dropped whole", FLAG_GROUP, kind=int)
    num_candidates: int = flag(10, "with --mmi_model: candidates generated per context and "
                               "reranked", FLAG_GROUP, kind=int)
    mmi_temperature: float = flag(0.0, "with --mmi_model: 0 picks the best-scored candidate; > 0 "
                                  "samples from softmax(score / T)", FLAG_GROUP, kind=float)
    mmi_source_turns: int = flag(0, "with --mmi_model: most recent context turns scored as the "
                                 "source (0 = every turn of the decoding window; 1 = the last "
                                 "message)", FLAG_GROUP, kind=int)
    seed: int = flag(42, "random seed for sampling and MMI choice (-1 = unseeded)", FLAG_GROUP,
                     kind=seed_type(unseeded_ok=True))

    def __post_init__(self) -> None:
        problems = []
        if self.decoding not in DECODING_METHODS:
            problems.append(f"{{decoding}} must be one of {', '.join(DECODING_METHODS)}")
        if self.top_k < 0:
            problems.append("{top_k} must be >= 0 (0 = off)")
        if not 0.0 < self.top_p <= 1.0:
            problems.append("{top_p} must be in (0, 1] (1 = off)")
        if self.temperature <= 0.0:
            problems.append("{temperature} must be > 0")
        if self.num_beams < 1:
            problems.append("{num_beams} must be >= 1")
        if self.no_repeat_ngram_size < 0:
            problems.append("{no_repeat_ngram_size} must be >= 0 (0 = off)")
        if self.repetition_penalty <= 0.0:
            problems.append("{repetition_penalty} must be > 0 (1 = off)")
        if self.max_length < 1:
            problems.append("{max_length} (new tokens of the response) must be >= 1")
        if not 0 <= self.min_length <= self.max_length:
            problems.append("{min_length} (new tokens before EOS is allowed) must be between 0 "
                            "and {max_length}")
        if self.max_history < 0 or self.max_context_tokens < 0 or self.mmi_source_turns < 0:
            problems.append("{max_history}, {max_context_tokens} and {mmi_source_turns} must be "
                            ">= 0 (0 = no limit)")
        if self.num_candidates < 1:
            problems.append("{num_candidates} must be >= 1")
        if self.mmi_temperature < 0.0:
            problems.append("{mmi_temperature} must be >= 0 (0 = pick the best)")
        if problems:
            raise OptionError("; ".join(problems))

    def candidate_count(self, reranking: bool) -> int:
        """Responses generated per context: ``num_candidates`` when a ranker chooses, else 1."""
        if not reranking:
            return 1
        if self.decoding == "greedy":
            raise OptionError("reranking ({mmi_model}) needs several candidates per context, "
                              "and greedy decoding yields one: use {decoding} sample (e.g. "
                              "{top_k} 20) or {decoding} beam")
        return self.num_candidates


def generation_kwargs(options: DecodingOptions, num_return_sequences: int, eos_id: int,
                      pad_id: int, decoder_start_id: int | None = None) -> dict[str, Any]:
    """``GenerationConfig`` fields for ``options`` (pure; the caller builds the config).

    Beam search returning several sequences needs at least that many beams.
    ``decoder_start_id``: an encoder-decoder model's first decoder token (T5: its pad id).
    """
    kwargs: dict[str, Any] = {
        "max_new_tokens": options.max_length,
        "min_new_tokens": options.min_length,
        "eos_token_id": eos_id,
        "pad_token_id": pad_id,
        "num_return_sequences": num_return_sequences,
        "repetition_penalty": options.repetition_penalty,
        "no_repeat_ngram_size": options.no_repeat_ngram_size,
        "use_cache": True,
        "do_sample": options.decoding == "sample",
        "num_beams": 1,
        "top_k": None,
        "top_p": None,
        "temperature": None,
    }
    if decoder_start_id is not None:
        kwargs["decoder_start_token_id"] = decoder_start_id
    if options.decoding == "sample":
        kwargs.update(top_k=options.top_k, top_p=options.top_p, temperature=options.temperature)
    elif options.decoding == "beam":
        kwargs.update(num_beams=max(options.num_beams, num_return_sequences), early_stopping=True)
    return kwargs


_USED_BY = {"top_k": ("sample",), "top_p": ("sample",), "temperature": ("sample",),
            "num_beams": ("beam",)}
_RERANKING_FLAGS = ("num_candidates", "mmi_temperature", "mmi_source_turns")


def ignored_flags(options: DecodingOptions, reranking: bool, preset: str | None = None
                  ) -> list[str]:
    """The decoding flags set away from their default (and from ``--preset``'s value) that have
    no effect with this method or without ``--mmi_model``, each as ``--flag value (why)``."""
    default = DecodingOptions()
    baseline = PRESETS.get(preset, {}) if preset else {}

    def set_by_user(name: str) -> bool:
        value = getattr(options, name)
        return value != getattr(default, name) and (name not in baseline
                                                    or value != baseline[name])

    ignored = [f"--{name} {getattr(options, name)} (only --decoding {'/'.join(methods)} uses it)"
               for name, methods in _USED_BY.items()
               if options.decoding not in methods and set_by_user(name)]
    if not reranking:
        ignored += [f"--{name} {getattr(options, name)} (only used with --mmi_model)"
                    for name in _RERANKING_FLAGS if set_by_user(name)]
    return ignored

