"""The prepro work unit: a chunk of raw corpus lines -> packed features + per-line outcomes.

Runs in worker processes (or inline with one worker). Everything a worker returns is plain data,
so the parent only writes arrays and adds up counters, in corpus order.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from dialogpt.data.db import EncodedFeatures, encode_features
from dialogpt.data.encoding import TurnEncoder
from dialogpt.data.features import (BadLine, WindowStats, build_features, parse_line,
                                    select_turns)
from dialogpt.data.lines import decode_line


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
    """Decode, parse, tokenise (one batched call, duplicate texts encoded once) and featurise."""
    skips: list[tuple[int, str, str]] = []
    conversations: list[tuple[int, list[tuple[float, str]]]] = []
    crlf = bom = 0
    for line_number, raw in enumerate(raw_lines, start=first_line):
        try:
            decoded = decode_line(raw)
            crlf += decoded.crlf
            bom += decoded.bom
            parsed = parse_line(decoded.text)
            turns = select_turns(parsed.context, parsed.responses[0], config.reverse,
                                 config.two_turn)
            if len(turns) < 2:
                raise BadLine("single_turn")
        except BadLine as exc:
            skips.append((line_number, exc.reason, exc.detail))
            continue
        conversations.append((line_number, turns))

    unique_texts = list(dict.fromkeys(text for _, turns in conversations for _, text in turns))
    ids_of = dict(zip(unique_texts, encoder.encode_batch(unique_texts)))

    features = []
    window = WindowStats()
    written = 0
    for line_number, turns in conversations:
        built = build_features([ids_of[text] for _, text in turns],
                               [weight for weight, _ in turns], encoder.eos_id,
                               config.max_seq_len)
        window.add(built.stats)
        if built.features:
            features.extend(built.features)
            written += 1
        else:
            reason = "all_zero_weights" if built.stats.all_zero_windows else "too_long"
            skips.append((line_number, reason, ""))
    skips.sort()
    labelled = sum(end - start for feature in features for start, end, _ in feature.spans)
    return ChunkResult(
        encoded=encode_features(features, config.token_dtype, config.length_dtype),
        n_lines=len(raw_lines), n_lines_written=written, n_labelled_tokens=labelled,
        crlf=crlf, bom=bom, window=window, skips=skips)


_worker_state: tuple[TurnEncoder, FeatureConfig] | None = None


def init_worker(encoder: TurnEncoder, config: FeatureConfig) -> None:
    """Pool initializer: keep the encoder and config in the worker process.

    Each worker encodes on one thread: the processes already use every core, and the Rust
    encoder's own thread pool in each of them would only contend for the same cores.
    """
    global _worker_state
    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    _worker_state = (encoder, config)


def process_chunk_in_worker(first_line: int, raw_lines: list[bytes | None]) -> ChunkResult:
    encoder, config = _worker_state
    return process_chunk(first_line, raw_lines, encoder, config)
