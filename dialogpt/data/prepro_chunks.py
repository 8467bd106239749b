"""The chunk executor of prepro: a corpus as numbered chunks of raw lines, each encoded by the
DB kind's chunk stage in this process or in ``workers`` processes, results in corpus order.

A chunk stage is a module with ``process_chunk(first, lines, encoder, config)``,
``init_worker(encoder, config)`` and ``process_chunk_in_worker(first, lines)`` (optionally
``process_chunks``, which tokenises in a helper thread): :mod:`dialogpt.data.pipeline` for TSV
(causal DBs), :mod:`dialogpt.data.seq2seq` for GODEL records. Results in corpus order make the DB
byte-identical for any worker count.
"""

from __future__ import annotations

import sys
from collections import deque
from typing import BinaryIO, Iterator


def stage_for(kind: str):
    """The chunk stage of a DB kind (``causal`` or ``seq2seq``)."""
    if kind == "seq2seq":
        from dialogpt.data import seq2seq

        return seq2seq
    from dialogpt.data import pipeline

    return pipeline


def chunked_lines(handle: BinaryIO, chunk_lines: int) -> Iterator[tuple[int, list]]:
    """``(first line number, raw lines)`` chunks; line numbers start at 1."""
    from dialogpt.data.lines import read_raw_lines

    chunk: list = []
    first = 1
    for raw in read_raw_lines(handle):
        chunk.append(raw)
        if len(chunk) == chunk_lines:
            yield first, chunk
            first += len(chunk)
            chunk = []
    if chunk:
        yield first, chunk


def process_in_order(chunks: Iterator[tuple[int, list]], encoder, config, workers: int, stage):
    """Chunk results of ``stage`` in corpus order; at most ``2 * workers`` chunks are in flight
    (bounded memory, unlike ``Pool.imap`` which reads its whole input ahead)."""
    if workers <= 1:
        if hasattr(stage, "process_chunks"):  # tokenises in a helper thread
            yield from stage.process_chunks(chunks, encoder, config)
            return
        for first, lines in chunks:
            yield stage.process_chunk(first, lines, encoder, config)
        return
    import multiprocessing

    context = multiprocessing.get_context(_start_method(encoder))
    pool = context.Pool(workers, initializer=stage.init_worker, initargs=(encoder, config))
    try:
        in_flight: deque = deque()
        for first, lines in chunks:
            in_flight.append(pool.apply_async(stage.process_chunk_in_worker, (first, lines)))
            if len(in_flight) >= 2 * workers:
                yield in_flight.popleft().get()
        while in_flight:
            yield in_flight.popleft().get()
        pool.close()  # workers finish and exit on their own, and are reaped here ...
        pool.join()
    finally:
        pool.terminate()  # ... or are stopped (an error, or the consumer stopped early)
        pool.join()


def _start_method(encoder) -> str:
    """``fork`` for the tiktoken GPT-2 encoder (the parent has loaded no threaded library: no
    torch, no Rust ``tokenizers`` pool), so workers start in milliseconds with the encoder
    already built and no ``multiprocessing`` resource-tracker process is started (it outlived
    prepro as an orphan); ``spawn`` otherwise."""
    import multiprocessing

    from dialogpt.data.encoding import Gpt2TiktokenEncoder

    if isinstance(encoder, Gpt2TiktokenEncoder) and \
            "fork" in multiprocessing.get_all_start_methods() and \
            not {"torch", "tokenizers"} & set(sys.modules):
        return "fork"
    return "spawn"
