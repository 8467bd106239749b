"""The prepro work unit: a chunk of raw corpus lines -> packed features + per-line outcomes.

Runs in worker processes (or inline with one worker). Everything a worker returns is plain data,
so the parent only writes arrays and adds up counters, in corpus order.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterable, Iterator

from dialogpt.data.db import EncodedFeatures
from dialogpt.data.encoding import TurnEncoder
from dialogpt.data.features import (EOS_SEPARATOR, BadLine, WindowStats, build_features,
                                    parse_line, parse_weight, select_turns)
from dialogpt.data.lines import _BOM, decode_line

if TYPE_CHECKING:
    import numpy as np


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

    Three stages (:func:`parse_chunk`, :func:`encode_flat` of its distinct texts in one
    tokenizer call, :func:`pack_chunk`); :func:`process_chunks` runs them over many chunks with
    the tokenizer in a helper thread. Results are the general rules' (``decode_line``,
    ``parse_line``, ``build_features``) exactly."""
    from dialogpt.data.encoding import encode_flat

    parsed = parse_chunk(first_line, raw_lines, config)
    return pack_chunk(parsed, encode_flat(encoder, parsed.unique), encoder.eos_id, config)


def process_chunks(chunks: Iterable[tuple[int, list]], encoder: TurnEncoder,
                   config: FeatureConfig) -> Iterator[ChunkResult]:
    """:func:`process_chunk` of each ``(first line, raw lines)`` chunk, in order, in this process:
    while a helper thread tokenises chunk k (``tiktoken`` and ``tokenizers`` release the GIL),
    this thread packs chunk k - 1 and parses chunk k + 1, so two cores are busy."""
    from concurrent.futures import ThreadPoolExecutor

    from dialogpt.data.encoding import encode_flat

    with ThreadPoolExecutor(1, thread_name_prefix="prepro-encode") as pool:
        pending = None
        for first, lines in chunks:
            parsed = parse_chunk(first, lines, config)
            encoding = pool.submit(encode_flat, encoder, parsed.unique)
            if pending is not None:
                yield pack_chunk(pending[0], pending[1].result(), encoder.eos_id, config)
            pending = (parsed, encoding)
        if pending is not None:
            yield pack_chunk(pending[0], pending[1].result(), encoder.eos_id, config)


@dataclass
class ParsedChunk:
    """A parsed chunk: its kept conversations' turns, flat (``weights``, a float64 array;
    ``which``: the index of each turn's text in ``unique``, the chunk's distinct texts), per
    conversation its line number and turn count (int64 arrays); the lines skipped so far and the
    normalisation counts."""

    n_lines: int
    unique: list[str]
    which: list[int]
    weights: "np.ndarray"
    counts: "np.ndarray"
    line_numbers: "np.ndarray"
    skips: list[tuple[int, str, str]]
    crlf: int
    bom: int


def parse_chunk(first_line: int, raw_lines: list[bytes | None],
                config: FeatureConfig) -> ParsedChunk:
    """Parse a chunk: its clean lines together (:func:`bulk_turns`), any other line alone
    (:func:`_line_turns`, which names the reason of a skip)."""
    import numpy as np

    from dialogpt.data.bulk_parse import BulkTurns, bulk_turns

    bulk = bulk_turns(raw_lines, config.reverse, config.two_turn) or BulkTurns(
        np.zeros(len(raw_lines), dtype=bool), np.zeros(0), [], np.zeros(0, dtype=np.int64))
    others = np.flatnonzero(~bulk.accepted).tolist()
    if not others:
        return _parsed(len(raw_lines), bulk.texts, bulk.weights, bulk.counts,
                       np.arange(first_line, first_line + len(raw_lines)), [], 0, 0)
    alone = _line_turns(first_line, raw_lines, config, others)
    # merge: the accepted lines before each other line, then that line (if it has turns)
    turn_end = np.cumsum(bulk.counts)
    accepted_before = np.cumsum(bulk.accepted) - bulk.accepted
    texts: list[str] = []
    weights, counts, numbers = [], [], []
    done = 0  # accepted lines merged so far
    line_numbers = np.flatnonzero(bulk.accepted) + first_line
    for k, line in enumerate(others + [len(raw_lines)]):
        upto = int(accepted_before[line]) if line < len(raw_lines) else len(bulk.counts)
        if upto > done:
            begin, end = (int(turn_end[done - 1]) if done else 0), int(turn_end[upto - 1])
            texts += bulk.texts[begin:end]
            weights.append(bulk.weights[begin:end])
            counts.append(bulk.counts[done:upto])
            numbers.append(line_numbers[done:upto])
            done = upto
        if k < len(others) and alone.get(line) is not None:
            line_weights, line_texts = alone[line]
            texts += line_texts
            weights.append(np.asarray(line_weights, dtype=np.float64))
            counts.append(np.asarray([len(line_texts)], dtype=np.int64))
            numbers.append(np.asarray([first_line + line], dtype=np.int64))
    if not counts:
        return _parsed(len(raw_lines), [], np.zeros(0), np.zeros(0, dtype=np.int64),
                       np.zeros(0, dtype=np.int64), alone.skips, alone.crlf, alone.bom)
    return _parsed(len(raw_lines), texts, np.concatenate(weights), np.concatenate(counts),
                   np.concatenate(numbers), alone.skips, alone.crlf, alone.bom)


def _parsed(n_lines, texts, weights, counts, line_numbers, skips, crlf, bom) -> ParsedChunk:
    """A :class:`ParsedChunk`, each distinct text listed once."""
    index = dict.fromkeys(texts)
    unique = list(index)
    index = dict(zip(unique, range(len(unique))))
    return ParsedChunk(n_lines, unique, list(map(index.__getitem__, texts)), weights, counts,
                       line_numbers, skips, crlf, bom)


class _LineTurns(dict):
    """Line index in the chunk -> ``(weights, texts)``, or None for a skipped line; with the
    ``skips`` and the ``crlf``/``bom`` counts."""

    skips: list[tuple[int, str, str]]
    crlf: int = 0
    bom: int = 0


def _line_turns(first_line: int, raw_lines: list[bytes | None], config: FeatureConfig,
                indices) -> _LineTurns:
    """The turns of the lines ``indices`` of a chunk, each parsed alone: :func:`_fast_turns`,
    else the general rules (``decode_line``, ``parse_line``, ``select_turns``)."""
    result = _LineTurns()
    result.skips = []
    reverse, two_turn = config.reverse, config.two_turn
    for index in indices:
        raw, line_number = raw_lines[index], first_line + index
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
                result.crlf += decoded.crlf
                result.bom += decoded.bom
                parsed = parse_line(decoded.text)
                selected = select_turns(parsed.context, parsed.responses[0], reverse, two_turn)
                if len(selected) < 2:
                    raise BadLine("single_turn")
            except BadLine as exc:
                result.skips.append((line_number, exc.reason, exc.detail))
                result[index] = None
                continue
            turns = ([weight for weight, _ in selected], [text for _, text in selected])
        result[index] = turns
    return result


def pack_chunk(parsed: ParsedChunk, encoded, eos: int, config: FeatureConfig) -> ChunkResult:
    """The :class:`ChunkResult` of a parsed chunk, given ``encoded = encode_flat(encoder,
    parsed.unique)``. A conversation that is one window with every later turn weighted 1.0
    (nearly all extractor lines) is packed with array operations over the whole chunk
    (:func:`_pack_regular`); the others take :func:`build_features` one by one."""
    turns = _ChunkTurns(parsed, *encoded)
    skips = list(parsed.skips)
    packed = _pack(turns, parsed, eos, config, skips)
    skips.sort()
    return ChunkResult(encoded=packed.encoded(config), n_lines=parsed.n_lines,
                       n_lines_written=packed.written, n_labelled_tokens=packed.labelled,
                       crlf=parsed.crlf, bom=parsed.bom, window=packed.window, skips=skips)


class _ChunkTurns:
    """Every turn of a parsed chunk as arrays: ``start``/``length`` of its ids in ``tokens``,
    ``weight``; ``count`` and ``first`` (index of its first turn) per conversation."""

    def __init__(self, parsed: ParsedChunk, tokens, unique_lengths):
        import numpy as np

        which = np.asarray(parsed.which, dtype=np.int64)
        unique_starts = np.cumsum(unique_lengths) - unique_lengths
        self.tokens = tokens
        self.start, self.length = unique_starts[which], unique_lengths[which]
        self.weight = np.asarray(parsed.weights, dtype=np.float64)
        self.count = np.asarray(parsed.counts, dtype=np.int64)
        self.first = np.cumsum(self.count) - self.count

    def ids(self, turn: int) -> list[int]:
        start = self.start[turn]
        return self.tokens[start:start + self.length[turn]].tolist()


@dataclass
class _Packed:
    """A chunk's examples in corpus order, as lists of array pieces plus the exception table."""

    tokens: list = field(default_factory=list)
    lengths: list = field(default_factory=list)
    label_start: list = field(default_factory=list)
    exc_local: list[int] = field(default_factory=list)
    exc_count: list[int] = field(default_factory=list)
    exc_spans: list[tuple[int, int]] = field(default_factory=list)
    exc_weights: list[float] = field(default_factory=list)
    window: WindowStats = field(default_factory=WindowStats)
    n_examples: int = 0
    written: int = 0
    labelled: int = 0

    def add_feature(self, feature) -> None:
        spans = feature.spans
        self.tokens.append(feature.input_ids)
        self.lengths.append([len(feature.input_ids)])
        self.label_start.append([spans[0][0]])
        self.labelled += sum(end - start for start, end, _ in spans)
        if len(spans) > 1 or spans[0][2] != 1.0:
            self.exc_local.append(self.n_examples)
            self.exc_count.append(len(spans))
            for start, end, weight in spans:
                self.exc_spans.append((start, end))
                self.exc_weights.append(weight)
        self.n_examples += 1

    def encoded(self, config: FeatureConfig) -> EncodedFeatures:
        import numpy as np

        def joined(pieces, dtype):
            return np.concatenate([np.asarray(piece, dtype=dtype) for piece in pieces]) \
                if pieces else np.zeros(0, dtype=dtype)

        return EncodedFeatures(
            tokens=joined(self.tokens, config.token_dtype),
            lengths=joined(self.lengths, config.length_dtype),
            label_start=joined(self.label_start, config.length_dtype),
            exc_local=np.asarray(self.exc_local, dtype=np.int64),
            exc_span_count=np.asarray(self.exc_count, dtype=np.uint16),
            exc_spans=np.asarray(self.exc_spans, dtype=np.uint16).reshape(-1, 2),
            exc_weights=np.asarray(self.exc_weights, dtype=np.float64),
        )


def _pack(turns: _ChunkTurns, parsed: ParsedChunk, eos: int, config: FeatureConfig,
          skips: list) -> _Packed:
    """Conversations that are one window (:class:`_OneWindow`) in array passes, the others
    through :func:`build_features`, merged back into corpus order."""
    import numpy as np

    packed = _Packed()
    if not len(parsed.counts):
        return packed
    windows = _OneWindow(turns, config.max_seq_len, eos)
    done = 0  # one-window conversations already moved into ``packed``
    for line in np.flatnonzero(~windows.selected).tolist():
        upto = int(windows.before[line])
        windows.move(packed, done, upto)
        done = upto
        first, count = int(turns.first[line]), int(parsed.counts[line])
        built = build_features([turns.ids(turn) for turn in range(first, first + count)],
                               parsed.weights[first:first + count].tolist(), eos,
                               config.max_seq_len)
        packed.window.add(built.stats)
        if built.features:
            for feature in built.features:
                packed.add_feature(feature)
            packed.written += 1
        else:
            reason = "all_zero_weights" if built.stats.all_zero_windows else "too_long"
            skips.append((int(parsed.line_numbers[line]), reason, ""))
    windows.move(packed, done, len(windows.lengths))
    return packed


class _OneWindow:
    """The conversations of a chunk that fit ``max_seq_len`` whole and predict some turn after
    the first (nearly all), packed together: ``turn_0 EOS turn_1 ... turn_last`` up to the last
    turn with a non-zero weight (``make_feature`` trims weight-0 turns at the end), gathered
    from the chunk's token array in one indexing operation; predicted spans from the turn
    offsets, computed one by one only for the few with a weight other than 1.0 after the first
    predicted turn (the exception table)."""

    def __init__(self, turns: _ChunkTurns, max_seq_len: int, eos: int):
        import numpy as np

        n_turns = len(turns.length)
        later = np.ones(n_turns, dtype=bool)
        later[turns.first] = False
        predicted = later & (turns.weight != 0)
        index = np.arange(n_turns)
        last_of_line = np.maximum.reduceat(np.where(predicted, index, -1), turns.first)
        total = np.add.reduceat(turns.length, turns.first) + turns.count - 1
        self.selected = (total <= max_seq_len) & (last_of_line >= 0)
        self.before = np.cumsum(self.selected) - self.selected
        first, last = turns.first[self.selected], last_of_line[self.selected]
        use = last - first + 1
        # position of each turn in its example: its ids start after the earlier turns + EOSs
        ends = np.cumsum(turns.length)
        starts = ends - turns.length
        line_first = np.repeat(turns.first, turns.count)
        position = starts - starts[line_first] + (index - line_first)
        self.lengths = position[last] + turns.length[last]
        first_predicted = np.minimum.reduceat(np.where(predicted, index, n_turns), turns.first)
        self.label_start = position[first_predicted[self.selected]] - 1
        used = np.repeat(self.selected, turns.count) & (index <= np.repeat(last_of_line,
                                                                          turns.count))
        self.labelled = np.add.reduceat(np.where(predicted & used, turns.length + 1, 0),
                                        turns.first)[self.selected]
        self.tokens = _gather(turns, used, eos)
        self.token_end = np.cumsum(self.lengths)
        irregular = used & (turns.weight != 1.0) & (index >= np.repeat(first_predicted,
                                                                      turns.count))
        self.exceptions = np.flatnonzero(np.logical_or.reduceat(irregular, turns.first)[
            self.selected])
        self._spans = (first[self.exceptions].tolist(), use[self.exceptions].tolist(),
                       position, turns)

    def spans(self, k: int) -> list[tuple[int, int, float]]:
        """``make_feature``'s spans of the k-th exception."""
        firsts, uses, position, turns = self._spans
        begin = firsts[k]
        spans: list[tuple[int, int, float]] = []
        for start, length, weight in zip(position[begin + 1:begin + uses[k]].tolist(),
                                         turns.length[begin + 1:begin + uses[k]].tolist(),
                                         turns.weight[begin + 1:begin + uses[k]].tolist()):
            if weight == 0:
                continue
            if spans and spans[-1][1] == start - 1 and spans[-1][2] == weight:
                spans[-1] = (spans[-1][0], start + length, weight)
            else:
                spans.append((start - 1, start + length, weight))
        return spans

    def move(self, packed: _Packed, begin: int, end: int) -> None:
        """Move one-window conversations ``begin:end`` (in their own order) into ``packed``."""
        import numpy as np

        if end <= begin:
            return
        first_token = int(self.token_end[begin - 1]) if begin else 0
        packed.tokens.append(self.tokens[first_token:int(self.token_end[end - 1])])
        packed.lengths.append(self.lengths[begin:end])
        packed.label_start.append(self.label_start[begin:end])
        packed.labelled += int(self.labelled[begin:end].sum())
        low, high = np.searchsorted(self.exceptions, [begin, end])
        for k in range(int(low), int(high)):
            spans = self.spans(k)
            packed.exc_local.append(packed.n_examples + int(self.exceptions[k]) - begin)
            packed.exc_count.append(len(spans))
            for start, stop, weight in spans:
                packed.exc_spans.append((start, stop))
                packed.exc_weights.append(weight)
        packed.n_examples += end - begin
        packed.written += end - begin


def _gather(turns: _ChunkTurns, used, eos: int):
    """The ids of the ``used`` turns, each conversation's joined by EOS, in one indexing."""
    import numpy as np

    # a used turn is the last of its example when the next turn is unused or starts a line
    following = np.append(used[1:], False)
    following[turns.first[1:] - 1] = False
    last = used & ~following
    seg_start = np.empty(2 * int(used.sum()), dtype=np.int64)
    seg_len = np.empty_like(seg_start)
    seg_start[0::2] = turns.start[used]
    seg_len[0::2] = turns.length[used]
    seg_start[1::2] = len(turns.tokens)  # an EOS appended after the tokens
    seg_len[1::2] = ~last[used]
    out_start = np.cumsum(seg_len) - seg_len
    index = np.repeat(seg_start - out_start, seg_len) + np.arange(int(seg_len.sum()))
    return np.append(turns.tokens, np.uint32(eos))[index]


_COMMON_WEIGHTS = {"1.0": 1.0, "0.0": 0.0}
"""The extractor's weight tokens, looked up before the general numeral rule."""


def _fast_turns(text: str, reverse: bool, two_turn: bool
                ) -> tuple[list[float], list[str]] | None:
    """``select_turns(parse_line(text))`` as ``(weights, texts)`` for a well-formed line with
    >= 2 turns, else None (the caller then runs the general rules, which name the reason)."""
    if text.count("\t") != 1:
        return None
    context, response = text.split("\t")
    parts = context.split(EOS_SEPARATOR)
    parts.append(response)
    weights: list[float] = []
    texts: list[str] = []
    common = _COMMON_WEIGHTS
    # Single spaces only, none at a turn's edge: a turn is "WEIGHT TEXT" as it stands.
    # (isprintable() is False for every whitespace character but the space.)
    clean = (context.isprintable() and response.isprintable() and "  " not in text
             and text[:1] != " " and text[-1:] != " " and context[-1:] != " "
             and response[:1] != " ")
    for part in parts:
        if clean:
            first, space, rest = part.partition(" ")
            weight = common.get(first)
            if weight is not None and space:
                weights.append(weight)
                texts.append(rest)
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
                weights.append(1.0)
                texts.append(" ".join(words))
                continue
        if len(words) == 1:
            return None
        weights.append(weight)
        texts.append(" ".join(words[1:]))
    if weights[-1] == 0:
        weights.pop()
        texts.pop()
    if reverse:
        weights.reverse()
        texts.reverse()
    if two_turn:
        del weights[2:], texts[2:]
    return (weights, texts) if len(texts) >= 2 else None


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
