"""GODEL records -> encoder sources and decoder targets: the seq2seq prepro work unit.

A JSON line is decoded like a TSV line (:mod:`dialogpt.data.lines`: binary, strict UTF-8, CRLF and
BOM normalised and counted), parsed as a GODEL record (:func:`dialogpt.grounding.parse_record`),
its source built by the template and fitted to ``max_source_len`` by
:func:`dialogpt.grounding.fit_source` (oldest turns dropped first, the knowledge kept up to its
budget, the newest turn cut only as a last resort; every cut counted). Ids are what the tokenizer
gives the model (``tokenizer(source).input_ids``, T5's closing ``</s>`` included); the target is
``tokenizer(text_target=response).input_ids``, EOS appended if the tokenizer does not, and cut to
``max_target_len`` keeping the final EOS. Sources and responses of a chunk are encoded in one
batched call; only sources over the limit are measured again while they are cut.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Sequence

from dialogpt.data.features import BadLine
from dialogpt.data.lines import decode_line
from dialogpt.grounding import (BadRecord, GroundedRecord, SourceFit, SourceTooLong,
                                build_source, fit_source, parse_record)

SKIP_REASONS = {
    "blank_line": "the line is empty or whitespace only",
    "non_utf8": "the line is not valid UTF-8",
    "line_too_long": "the line is longer than the 1 MB limit",
    "bad_json": "the line is not valid JSON",
    "not_object": "the line is JSON but not an object",
    "missing_context": "the record has no 'Context'",
    "missing_response": "the record has no 'Response'",
    "empty_response": "the record's 'Response' is empty or whitespace only",
    "wrong_type": "a key has the wrong type ('Context': string or list of strings; "
                  "'Knowledge', 'Response', 'Instruction': strings)",
    "empty_context": "the record's 'Context' has no non-empty turn",
    "source_too_long": "the instruction and template alone exceed --max_source_len",
}
"""Every reason a GODEL line can yield no example, with its human explanation."""

MALFORMED_REASONS = frozenset(SKIP_REASONS) - {"source_too_long"}
"""Reasons that mean broken input (an error under ``--strict``)."""

_PROBES = ("Hello world! [CONTEXT] it's 42 EOS  Ünïcödé 日本語 [KNOWLEDGE] x => ", " ", "a")


class SourceEncoder:
    """Batched ``tokenizer(text).input_ids`` through the tokenizer's Rust backend, picklable.

    ``eos_id``/``pad_id`` are the tokenizer's. At construction the backend is checked against the
    tokenizer itself (plain and ``text_target`` encoding of a few probes); a tokenizer where they
    differ is called directly instead (slower, same ids).
    """

    def __init__(self, tokenizer):
        if tokenizer.pad_token_id is None:
            from dialogpt.cli import UserError

            raise UserError(f"tokenizer {tokenizer.name_or_path!r} has no pad token; a seq2seq "
                            "DB needs one (T5: pad 0). Pass --tokenizer with a T5 tokenizer "
                            "directory or Hub id")
        self.eos_id = int(tokenizer.eos_token_id)
        self.pad_id = int(tokenizer.pad_token_id)
        self.vocab_size = len(tokenizer)
        self._tokenizer = None
        self._target_differs = False
        backend = getattr(tokenizer, "backend_tokenizer", None)
        self._json = backend.to_str() if backend is not None else None
        self._backend = None
        if self._json is not None:
            self._own()
        expected = [tokenizer(text).input_ids for text in _PROBES]
        targets = [tokenizer(text_target=text).input_ids for text in _PROBES]
        if self._backend is None or self.encode_batch(list(_PROBES)) != expected or \
                targets != expected:
            self._json, self._backend, self._tokenizer = None, None, tokenizer
            self._target_differs = targets != expected

    def _own(self) -> None:
        from tokenizers import Tokenizer

        backend = Tokenizer.from_str(self._json)
        backend.no_padding()
        backend.no_truncation()
        self._backend = backend

    def encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
        if not texts:
            return []
        if self._backend is None:
            return [list(ids) for ids in self._tokenizer(list(texts)).input_ids]
        encode = getattr(self._backend, "encode_batch_fast", self._backend.encode_batch)
        return [encoding.ids for encoding in encode(list(texts), add_special_tokens=True)]

    def encode_targets(self, texts: Sequence[str]) -> list[list[int]]:
        if self._target_differs:
            return [list(ids) for ids in self._tokenizer(text_target=list(texts)).input_ids]
        return self.encode_batch(texts)

    def encode(self, text: str) -> list[int]:
        return self.encode_batch([text])[0]

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_backend"] = None
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        if self._json is not None:
            self._own()


@dataclass(frozen=True)
class Seq2SeqConfig:
    """How records become examples (recorded in the DB manifest)."""

    template: str
    instruction: str
    max_source_len: int
    max_target_len: int
    knowledge_budget: int | None
    token_dtype: str = "uint32"
    length_dtype: str = "uint16"


@dataclass
class CutStats:
    """What the length limits cut, summed over records."""

    records_cut: int = 0
    """Records whose source was cut in any way."""
    turns_dropped: int = 0
    """Oldest turns left out, in total."""
    records_turns_dropped: int = 0
    knowledge_cut: int = 0
    newest_turn_cut: int = 0
    target_cut: int = 0

    def add_fit(self, fit: SourceFit) -> None:
        self.records_cut += fit.was_cut
        self.turns_dropped += fit.turns_dropped
        self.records_turns_dropped += fit.turns_dropped > 0
        self.knowledge_cut += fit.knowledge_cut
        self.newest_turn_cut += fit.newest_turn_cut

    def add(self, other: "CutStats") -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass
class EncodedPairs:
    """Sources and targets of consecutive examples in storage form (``ShardWriter`` input)."""

    tokens: "object"
    lengths: "object"
    target_tokens: "object"
    target_lengths: "object"

    @property
    def n_examples(self) -> int:
        return len(self.lengths)


@dataclass(frozen=True)
class Example:
    """One encoded record: the fitted source, its ids, the target ids and what was cut."""

    line: int
    fit: SourceFit
    source_ids: list[int]
    target_ids: list[int]
    target_cut: bool


def parse_jsonl_line(raw: bytes | None, default_instruction: str,
                     require_response: bool = True) -> tuple[GroundedRecord, bool, bool]:
    """``(record, crlf, bom)`` of a raw JSON line; raises :class:`BadLine` / :class:`BadRecord`."""
    decoded = decode_line(raw)
    if not decoded.text.strip():
        raise BadRecord("blank_line")
    try:
        obj = json.loads(decoded.text)
    except json.JSONDecodeError as exc:
        raise BadRecord("bad_json", f"{exc.msg} at column {exc.colno}") from None
    record = parse_record(obj, default_instruction, require_response)
    return record, decoded.crlf, decoded.bom


def fit_target(ids: Sequence[int], eos_id: int, max_target_len: int) -> tuple[list[int], bool]:
    """The target ending in EOS and at most ``max_target_len`` long; ``(ids, was_cut)``."""
    ids = list(ids)
    if not ids or ids[-1] != eos_id:
        ids.append(eos_id)
    if len(ids) > max_target_len:
        return ids[:max_target_len - 1] + [eos_id], True
    return ids, False


def encode_records(numbered: Sequence[tuple[int, GroundedRecord]], encoder: SourceEncoder,
                   config: Seq2SeqConfig) -> tuple[list[Example], list[tuple[int, str, str]]]:
    """Encode records (batched), fitting sources to the limit; ``(examples, skips)``."""
    records = [record for _, record in numbered]
    sources = [build_source(r.turns, r.knowledge, r.instruction, config.template)
               for r in records]
    source_ids = encoder.encode_batch(sources)
    with_target = [r.response is not None for r in records]
    target_ids = iter(encoder.encode_targets([r.response for r in records if r.response
                                              is not None]))
    examples, skips = [], []
    for (line, record), text, ids, has_target in zip(numbered, sources, source_ids, with_target):
        targets = next(target_ids) if has_target else [encoder.eos_id]
        if len(ids) <= config.max_source_len:
            fit = SourceFit(text, len(ids), len(record.turns))
        else:
            try:
                fit = fit_source(record.turns, record.knowledge, record.instruction,
                                 config.template, encoder.encode, config.max_source_len,
                                 config.knowledge_budget)
            except SourceTooLong as exc:
                skips.append((line, "source_too_long", str(exc)))
                continue
            ids = encoder.encode(fit.text)
        target, cut = fit_target(targets, encoder.eos_id, config.max_target_len)
        examples.append(Example(line, fit, ids, target, cut))
    return examples, skips


def pack_examples(examples: Sequence[Example], token_dtype: str, length_dtype: str
                  ) -> EncodedPairs:
    import numpy as np

    def flat(rows):
        return np.fromiter((t for row in rows for t in row), dtype=token_dtype,
                           count=sum(len(row) for row in rows))

    return EncodedPairs(
        tokens=flat([e.source_ids for e in examples]),
        lengths=np.asarray([len(e.source_ids) for e in examples], dtype=length_dtype),
        target_tokens=flat([e.target_ids for e in examples]),
        target_lengths=np.asarray([len(e.target_ids) for e in examples], dtype=length_dtype))


@dataclass
class Seq2SeqChunkResult:
    """What one chunk of lines produced; ``skips`` are ``(line_number, reason, detail)``."""

    encoded: EncodedPairs
    n_lines: int
    n_lines_written: int
    source_tokens: int
    target_tokens: int
    crlf: int
    bom: int
    cuts: CutStats
    skips: list[tuple[int, str, str]] = field(default_factory=list)


def read_records(first_line: int, raw_lines: Sequence[bytes | None], default_instruction: str,
                 require_response: bool = True):
    """``(numbered records, skips, crlf, bom)`` of a chunk of raw JSON lines."""
    numbered, skips = [], []
    crlf = bom = 0
    for line_number, raw in enumerate(raw_lines, start=first_line):
        try:
            record, is_crlf, has_bom = parse_jsonl_line(raw, default_instruction,
                                                        require_response)
        except (BadLine, BadRecord) as exc:
            skips.append((line_number, exc.reason, exc.detail))
            continue
        crlf += is_crlf
        bom += has_bom
        numbered.append((line_number, record))
    return numbered, skips, crlf, bom


def process_chunk(first_line: int, raw_lines: list[bytes | None], encoder: SourceEncoder,
                  config: Seq2SeqConfig) -> Seq2SeqChunkResult:
    """Decode, parse, encode (batched) and fit one chunk of JSON lines."""
    numbered, skips, crlf, bom = read_records(first_line, raw_lines, config.instruction)
    examples, too_long = encode_records(numbered, encoder, config)
    skips = sorted(skips + too_long)
    cuts = CutStats()
    for example in examples:
        cuts.add_fit(example.fit)
        cuts.target_cut += example.target_cut
    encoded = pack_examples(examples, config.token_dtype, config.length_dtype)
    return Seq2SeqChunkResult(
        encoded=encoded, n_lines=len(raw_lines), n_lines_written=len(examples),
        source_tokens=len(encoded.tokens), target_tokens=len(encoded.target_tokens),
        crlf=crlf, bom=bom, cuts=cuts, skips=skips)


_worker_state: tuple[SourceEncoder, Seq2SeqConfig] | None = None


def init_worker(encoder: SourceEncoder, config: Seq2SeqConfig) -> None:
    """Pool initializer: keep the encoder and config in the worker (one thread each)."""
    global _worker_state
    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    _worker_state = (encoder, config)


def process_chunk_in_worker(first_line: int, raw_lines: list[bytes | None]
                            ) -> Seq2SeqChunkResult:
    encoder, config = _worker_state
    return process_chunk(first_line, raw_lines, encoder, config)
