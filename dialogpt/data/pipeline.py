"""The prepro work unit: a chunk of raw corpus lines -> packed features + per-line outcomes.

Runs in worker processes (or inline with one worker). Everything a worker returns is plain data,
so the parent only writes arrays and adds up counters, in corpus order.
"""

from __future__ import annotations

import array
import os
from dataclasses import dataclass, field

from dialogpt.data.db import EncodedFeatures
from dialogpt.data.encoding import TurnEncoder
from dialogpt.data.features import (EOS_SEPARATOR, BadLine, WindowStats, build_features,
                                    parse_line, parse_weight, select_turns)
from dialogpt.data.lines import _BOM, decode_line


@dataclass(frozen=True)
class FeatureConfig:
    max_seq_len: int
    reverse: bool
    two_turn: bool
    token_dtype: str
    length_dtype: str


@dataclass
class ChunkResult:
    """What one chunk of lines produced; ``skips`` are ``(line_number, reason, detail)``."""

    encoded: EncodedFeatures
    n_lines: int
    n_lines_written: int
    n_labelled_tokens: int
    crlf: int
    bom: int
    window: WindowStats
    skips: list[tuple[int, str, str]] = field(default_factory=list)


def process_chunk(first_line: int, raw_lines: list[bytes | None], encoder: TurnEncoder,
                  config: FeatureConfig) -> ChunkResult:
    """Decode, parse, tokenise (duplicate texts encoded once) and featurise a chunk of lines.

    Lines are parsed by :func:`_fast_turns` and packed directly when they are one window with
    every later turn weighted 1.0 (nearly all extractor lines); everything else takes the general
    rules (``decode_line``/``parse_line``/``build_features``), so results are identical."""
    conversations, skips, crlf, bom = _parse_chunk(first_line, raw_lines, config)
    eos = encoder.eos_id
    unique_texts = list(dict.fromkeys(text for _, turns in conversations for _, text in turns))
    ids_of = dict(zip(unique_texts, encoder.encode_batch(unique_texts)))

    packer = _Packer(config.token_dtype, eos)
    window = WindowStats()
    written = 0
    max_len = config.max_seq_len
    for line_number, turns in conversations:
        turn_ids = [ids_of[text] for _, text in turns]
        total = sum(map(len, turn_ids)) + len(turn_ids) - 1
        if total <= max_len and all(weight == 1.0 for weight, _ in turns[1:]):
            packer.add_one_window(turn_ids, total)
            written += 1
            continue
        built = build_features(turn_ids, [weight for weight, _ in turns], eos, max_len)
        window.add(built.stats)
        if built.features:
            for feature in built.features:
                packer.add_feature(feature)
            written += 1
        else:
            reason = "all_zero_weights" if built.stats.all_zero_windows else "too_long"
            skips.append((line_number, reason, ""))
    skips.sort()
    return ChunkResult(
        encoded=packer.encoded(config.length_dtype), n_lines=len(raw_lines),
        n_lines_written=written, n_labelled_tokens=packer.labelled, crlf=crlf, bom=bom,
        window=window, skips=skips)


_COMMON_WEIGHTS = {"1.0": 1.0, "0.0": 0.0}
"""The extractor's weight tokens, looked up before the general numeral rule."""


def _fast_turns(text: str, reverse: bool, two_turn: bool) -> list[tuple[float, str]] | None:
    """``select_turns(parse_line(text))`` for a well-formed line with >= 2 turns, else None (the
    caller then runs the general rules, which name the exact reason)."""
    if text.count("\t") != 1:
        return None
    context, response = text.split("\t")
    turns = []
    common = _COMMON_WEIGHTS
    # Single spaces only, none at a turn's edge: a turn is "WEIGHT TEXT" as it stands.
    # (isprintable() is False for every whitespace character but the space.)
    clean = (context.isprintable() and response.isprintable() and "  " not in text
             and text[:1] != " " and text[-1:] != " " and context[-1:] != " "
             and response[:1] != " ")
    for part in (*context.split(EOS_SEPARATOR), response):
        if clean:
            first, space, rest = part.partition(" ")
            weight = common.get(first)
            if weight is not None and space:
                turns.append((weight, rest))
                continue
        words = part.split()
        if not words:
            return None
        weight = common.get(words[0])
        if weight is None:
            try:
                weight = parse_weight(words[0])
            except BadLine:
                return None
            if weight is None:
                turns.append((1.0, " ".join(words)))
                continue
        if len(words) == 1:
            return None
        turns.append((weight, " ".join(words[1:])))
    if turns[-1][0] == 0:
        turns.pop()
    if reverse:
        turns.reverse()
    if two_turn:
        turns = turns[:2]
    return turns if len(turns) >= 2 else None


def _parse_chunk(first_line: int, raw_lines: list[bytes | None], config: FeatureConfig):
    """``(conversations, skips, crlf, bom)``: conversations are ``(line number, turns)``."""
    skips: list[tuple[int, str, str]] = []
    conversations: list[tuple[int, list[tuple[float, str]]]] = []
    crlf = bom = 0
    reverse, two_turn = config.reverse, config.two_turn
    for line_number, raw in enumerate(raw_lines, start=first_line):
        turns = None
        if raw is not None and raw.endswith(b"\n") and not raw.endswith(b"\r\n") \
                and not raw.startswith(_BOM):
            try:
                turns = _fast_turns(raw[:-1].decode("utf-8"), reverse, two_turn)
            except UnicodeDecodeError:
                pass
        if turns is None:
            try:
                decoded = decode_line(raw)
                crlf += decoded.crlf
                bom += decoded.bom
                parsed = parse_line(decoded.text)
                turns = select_turns(parsed.context, parsed.responses[0], reverse, two_turn)
                if len(turns) < 2:
                    raise BadLine("single_turn")
            except BadLine as exc:
                skips.append((line_number, exc.reason, exc.detail))
                continue
        conversations.append((line_number, turns))
    return conversations, skips, crlf, bom


class _Packer:
    """Builds the :class:`EncodedFeatures` of a chunk example by example (the storage form of
    ``encode_features``, without a :class:`Feature` object for the common one-window case)."""

    def __init__(self, token_dtype: str, eos_id: int):
        import numpy as np

        self.tokens = array.array("H" if np.dtype(token_dtype).itemsize == 2 else "I")
        self.token_dtype = token_dtype
        self.eos_id = eos_id
        self.lengths: list[int] = []
        self.label_start: list[int] = []
        self.exc_local: list[int] = []
        self.exc_count: list[int] = []
        self.exc_spans: list[tuple[int, int]] = []
        self.exc_weights: list[float] = []
        self.labelled = 0

    def add_one_window(self, turn_ids: list[list[int]], total: int) -> None:
        """``turn_0 EOS turn_1 ... turn_n``, all predicted after turn 0 with weight 1.0."""
        extend, eos = self.tokens.extend, self.eos_id
        extend(turn_ids[0])
        for ids in turn_ids[1:]:
            self.tokens.append(eos)
            extend(ids)
        start = len(turn_ids[0])
        self.lengths.append(total)
        self.label_start.append(start)
        self.labelled += total - start

    def add_feature(self, feature) -> None:
        spans = feature.spans
        self.tokens.extend(feature.input_ids)
        self.lengths.append(len(feature.input_ids))
        self.label_start.append(spans[0][0])
        self.labelled += sum(end - start for start, end, _ in spans)
        if len(spans) == 1 and spans[0][2] == 1.0:
            return
        self.exc_local.append(len(self.lengths) - 1)
        self.exc_count.append(len(spans))
        for start, end, weight in spans:
            self.exc_spans.append((start, end))
            self.exc_weights.append(weight)

    def encoded(self, length_dtype: str) -> EncodedFeatures:
        import numpy as np

        tokens = self.tokens
        return EncodedFeatures(
            tokens=np.frombuffer(tokens, dtype=tokens.typecode).astype(self.token_dtype,
                                                                      copy=False),
            lengths=np.asarray(self.lengths, dtype=length_dtype),
            label_start=np.asarray(self.label_start, dtype=length_dtype),
            exc_local=np.asarray(self.exc_local, dtype=np.int64),
            exc_span_count=np.asarray(self.exc_count, dtype=np.uint16),
            exc_spans=np.asarray(self.exc_spans, dtype=np.uint16).reshape(-1, 2),
            exc_weights=np.asarray(self.exc_weights, dtype=np.float64),
        )


_worker_state: tuple[TurnEncoder, FeatureConfig] | None = None


def init_worker(encoder: TurnEncoder, config: FeatureConfig) -> None:
    """Pool initializer: keep the encoder and config in the worker process.

    Each worker encodes on one thread: the processes already use every core, and the Rust
    encoder's own thread pool in each of them would only contend for the same cores.
    """
    global _worker_state
    from dialogpt.interrupts import reset_in_worker

    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    reset_in_worker()
    _worker_state = (encoder, config)


def process_chunk_in_worker(first_line: int, raw_lines: list[bytes | None]) -> ChunkResult:
    encoder, config = _worker_state
    return process_chunk(first_line, raw_lines, encoder, config)
