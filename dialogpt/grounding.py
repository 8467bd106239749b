"""GODEL's grounded records and source templates, shared by prepro, training, decoding and serving.

A grounded example is a dialog (``turns``, oldest first), a piece of external text
(``knowledge``, may be empty), a natural-language ``instruction`` (may be empty) and, for training
and evaluation, the ``response``. The encoder of a seq2seq model reads one *source* string built
from them by a template (``docs/spec/grounded.md`` §2):

- ``card`` (the v1.1 model cards, our default):
  ``f"{instruction} [CONTEXT] {' EOS '.join(turns)} {kn}"`` with
  ``kn = "[KNOWLEDGE] " + knowledge`` when the knowledge is not empty, else ``""``;
- ``repo`` (the GODEL repository's fine-tuning scripts): ``context + ' <|Knowledge|> ' +
  knowledge + ' => '``, or ``context + ' => '`` without knowledge; no instruction.

Everything here is pure (no torch): the token counts come from an ``encode`` callable, so the
same code fits sources for prepro, decoding and the server. The one file read here is a
checkpoint's grounding record (:data:`GROUNDING_FILE`), which this module owns: what it holds
(:func:`grounding_record`), how it is found (:func:`read_grounding`) and checked against a DB
(:func:`check_grounding_matches`).

Length policy (:func:`fit_source`). GODEL cuts the source from the right, which silently drops
the knowledge and then the newest turns. Ours keeps, in order of priority: the instruction; the
newest turn; the knowledge up to ``knowledge_budget`` tokens; as many older turns as fit (newest
first); then more knowledge. Every cut is reported in :class:`SourceFit` so callers can count it.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from dialogpt.cli import UserError

TEMPLATES = ("card", "repo")
DEFAULT_TEMPLATE = "card"
DEFAULT_MAX_SOURCE_LEN = 512
"""Source tokens when nothing else says (prepro's ``--max_source_len``, decoding a checkpoint that
records none): GODEL's README commands and T5's pre-training length (GODEL's own default, 128,
cuts most grounded sources; T5's relative positions have no hard limit)."""

GROUNDING_FILE = "grounding.json"
"""Beside a seq2seq checkpoint's weights, written by the trainer: how the model's sources were
built (:func:`grounding_record`); read by the decoder for its template, instruction and limits,
and by a training that continues from the checkpoint (:func:`check_grounding_matches`)."""
GROUNDING_KEYS = ("template", "instruction", "max_source_len", "max_target_len",
                  "tokenizer_fingerprint")
"""The DB manifest fields a grounding record copies, after ``"kind": "seq2seq"``."""

TURN_SEPARATOR = " EOS "
"""How GODEL joins turns in a ``Context`` string (split on this exact string, never on a bare
``EOS``, which would break words such as ``GEOS``)."""

EMPATHIC_INSTRUCTION = ("Instruction: given a dialog context, you need to response empathically.")
GROUNDED_INSTRUCTION = ("Instruction: given a dialog context and related knowledge, you need to "
                        "response safely based on the knowledge.")
"""The two instructions of the v1.1 model cards, verbatim (including their grammar)."""


class BadRecord(ValueError):
    """A record that cannot be used; ``reason`` is a short key for skip counters."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class GroundedRecord:
    """One grounded example (``response`` is None for inputs to decode)."""

    turns: tuple[str, ...]
    knowledge: str = ""
    instruction: str = ""
    response: str | None = None


def split_context(context: str) -> list[str]:
    """``"a EOS b"`` -> ``["a", "b"]``; ``TURN_SEPARATOR.join`` gives the string back."""
    return context.split(TURN_SEPARATOR)


def _string_field(obj: dict, key: str, required: bool) -> str | None:
    if key not in obj or obj[key] is None:
        if required:
            raise BadRecord(f"missing_{key.lower()}", f"no {key!r} key")
        return None
    value = obj[key]
    if not isinstance(value, str):
        raise BadRecord("wrong_type", f"{key!r} must be a string, got {type(value).__name__}")
    return value


def parse_record(obj: Any, default_instruction: str = "",
                 require_response: bool = True) -> GroundedRecord:
    """Validate a decoded JSON value as a GODEL record (spec §1); raise :class:`BadRecord`.

    Keys: ``Context`` (a string of turns joined by `` EOS ``, or a list of strings), ``Knowledge``
    (string, missing = ``""``), ``Response`` (a non-empty string when ``require_response``),
    ``Instruction`` (optional string; it wins over ``default_instruction``).
    """
    if not isinstance(obj, dict):
        raise BadRecord("not_object", f"a record must be a JSON object, got {type(obj).__name__}")
    if "Context" not in obj:
        raise BadRecord("missing_context", "no 'Context' key")
    context = obj["Context"]
    if isinstance(context, str):
        turns = split_context(context)
    elif isinstance(context, list) and all(isinstance(turn, str) for turn in context):
        turns = list(context)
    else:
        raise BadRecord("wrong_type", "'Context' must be a string or a list of strings")
    if not any(turn.strip() for turn in turns):
        raise BadRecord("empty_context", "no non-empty turn in 'Context'")
    knowledge = _string_field(obj, "Knowledge", required=False) or ""
    instruction = _string_field(obj, "Instruction", required=False)
    response = _string_field(obj, "Response", required=require_response)
    if require_response and not response.strip():
        raise BadRecord("empty_response", "'Response' is empty")
    return GroundedRecord(turns=tuple(turns), knowledge=knowledge,
                          instruction=default_instruction if instruction is None else instruction,
                          response=response)


def check_template(template: str) -> str:
    if template not in TEMPLATES:
        raise ValueError(f"unknown template {template!r}; choose one of {', '.join(TEMPLATES)}")
    return template


def build_source(turns: Sequence[str], knowledge: str = "", instruction: str = "",
                 template: str = DEFAULT_TEMPLATE) -> str:
    """The encoder's input string, byte for byte as the template defines it (module docstring)."""
    context = TURN_SEPARATOR.join(turns)
    if check_template(template) == "card":
        kn = f"[KNOWLEDGE] {knowledge}" if knowledge != "" else ""
        return f"{instruction} [CONTEXT] {context} {kn}"
    if knowledge != "":
        return f"{context} <|Knowledge|> {knowledge} => "
    return f"{context} => "


@dataclass(frozen=True)
class SourceFit:
    """A source that fits the length limit, and what was cut to make it fit."""

    text: str
    n_tokens: int
    turns_kept: int
    turns_dropped: int = 0
    """Oldest turns left out."""
    knowledge_cut: bool = False
    """The knowledge was shortened (its first words kept) or left out."""
    newest_turn_cut: bool = False
    """Even the newest turn alone did not fit: its last words were kept."""

    @property
    def was_cut(self) -> bool:
        return bool(self.turns_dropped or self.knowledge_cut or self.newest_turn_cut)


class SourceTooLong(ValueError):
    """Even the instruction with one word of the newest turn exceeds the limit."""


def _largest_fitting(n: int, fits: Callable[[int], bool]) -> int:
    """The largest k in [0, n] with ``fits(k)``, assuming ``fits`` is monotone; -1 if none."""
    if not fits(0):
        return -1
    low, high = 0, n
    while low < high:
        middle = (low + high + 1) // 2
        if fits(middle):
            low = middle
        else:
            high = middle - 1
    return low


def fit_source(turns: Sequence[str], knowledge: str, instruction: str, template: str,
               encode: Callable[[str], Sequence[int]], max_tokens: int,
               knowledge_budget: int | None = None) -> SourceFit:
    """Build the source and cut it to at most ``max_tokens`` ids of ``encode(source)``.

    ``encode`` returns the ids the model reads (special tokens included, e.g. T5's closing
    ``</s>``). ``knowledge_budget`` (default ``max_tokens // 2``) is the number of knowledge tokens
    that take priority over older turns. Cuts are made on whole words (whitespace), lengths are
    measured on the whole source, so the result is exact for any tokenizer. Raises
    :class:`SourceTooLong` when even the instruction and the newest turn's last word do not fit.
    """
    if max_tokens < 1:
        raise ValueError(f"max_tokens must be >= 1, got {max_tokens}")
    turns = list(turns)
    budget = max_tokens // 2 if knowledge_budget is None else knowledge_budget

    def measure(kept_turns: Sequence[str], kn: str) -> int:
        return len(encode(build_source(kept_turns, kn, instruction, template)))

    full = measure(turns, knowledge)
    if full <= max_tokens:
        return SourceFit(build_source(turns, knowledge, instruction, template), full, len(turns))

    words = knowledge.split()
    knowledge_words = len(words)

    def knowledge_prefix(count: int) -> str:
        return knowledge if count == knowledge_words else " ".join(words[:count])

    def best_knowledge(kept_turns: Sequence[str]) -> int:
        return _largest_fitting(knowledge_words, lambda count: measure(
            kept_turns, knowledge_prefix(count)) <= max_tokens)

    # Words of knowledge that make up its protected budget (its first words).
    protected = _largest_fitting(knowledge_words, lambda count: len(
        encode(knowledge_prefix(count))) <= budget)
    protected = max(protected, 0)
    for dropped in range(len(turns)):
        kept = turns[dropped:]
        newest_only = dropped == len(turns) - 1
        if not newest_only and measure(kept, knowledge_prefix(protected)) > max_tokens:
            continue  # these turns leave the knowledge less than its budget: drop one more
        count = best_knowledge(kept)
        if count >= protected or (count >= 0 and newest_only):
            text_kn = knowledge_prefix(count)
            return SourceFit(build_source(kept, text_kn, instruction, template),
                             measure(kept, text_kn), len(kept), turns_dropped=dropped,
                             knowledge_cut=count < knowledge_words)
    # Only the newest turn is left, with no knowledge, and it still does not fit: keep its end.
    newest = turns[-1].split()
    keep = _largest_fitting(len(newest), lambda count: measure(
        [" ".join(newest[len(newest) - count:])], "") <= max_tokens)
    if keep < 1:
        raise SourceTooLong(f"the instruction and template alone take more than {max_tokens} "
                            "tokens; raise the source length limit or shorten the instruction")
    text_turn = " ".join(newest[len(newest) - keep:])
    return SourceFit(build_source([text_turn], "", instruction, template),
                     measure([text_turn], ""), 1, turns_dropped=len(turns) - 1,
                     knowledge_cut=bool(knowledge), newest_turn_cut=True)


def grounding_record(manifest: dict[str, Any]) -> dict[str, Any]:
    """:data:`GROUNDING_FILE` of a model trained on a seq2seq DB with this ``manifest``."""
    return {"kind": "seq2seq", **{key: manifest.get(key) for key in GROUNDING_KEYS}}


def read_grounding(*places: str | os.PathLike | None) -> tuple[dict, Path | None]:
    """The first :data:`GROUNDING_FILE` found in ``places`` (directories, or files whose directory
    is searched), and its path; ``({}, None)`` when there is none (e.g. a Hub id)."""
    for place in places:
        if not place:
            continue
        path = Path(place)
        directory = path if path.is_dir() else path.parent if path.is_file() else None
        if directory is None or not (directory / GROUNDING_FILE).is_file():
            continue
        file = directory / GROUNDING_FILE
        try:
            recorded = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise UserError(f"{file}: cannot read the checkpoint's grounding record ({exc}); "
                            "restore the file or delete it and pass --template") from exc
        if not isinstance(recorded, dict):
            raise UserError(f"{file} must hold a JSON object")
        return recorded, file
    return {}, None


def check_grounding_matches(db_path: str, manifest: dict[str, Any],
                            places: list[str | Path | None]) -> None:
    """A model trained on sources of one template (its :data:`GROUNDING_FILE`) must not
    continue on a DB of another kind, template or tokenizer."""
    for place in places:
        recorded, file = read_grounding(place)
        for key in ("kind", "template", "tokenizer_fingerprint"):
            ours = "seq2seq" if key == "kind" else manifest.get(key)
            if recorded.get(key) is not None and recorded.get(key) != ours:
                raise UserError(f"{file} says the model was trained with {key} "
                                f"{recorded.get(key)!r}, but token DB {db_path} has {ours!r}; "
                                f"rebuild the DB with prepro.py --{key} {recorded.get(key)} "
                                "(tokenizer: --tokenizer of the model), or start from another "
                                "model")
