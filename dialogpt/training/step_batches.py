"""The micro-batches of each optimizer step, each step with the loader position to resume from.

The trainer must checkpoint the position of the last batch it *trained on*, not of the last one
the loader produced, so every batch travels with ``loader.state_dict()`` taken right after it was
produced. With ``depth > 0`` a thread runs the loader up to ``depth`` batches ahead (collation and
``pin_memory`` overlap with the step); the recorded positions keep resume exact.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from typing import Any, Iterable, Iterator

_DONE = object()


def step_batches(loader, accumulation: int, depth: int,
                 pin_memory: bool = False) -> Iterator[tuple[list[dict], dict]]:
    """(the ``accumulation`` micro-batches of one optimizer step, the loader position after
    them) for the rest of the loader's epoch; a partial last group is dropped. ``depth``,
    ``pin_memory``: see ``prefetched``."""
    batches = prefetched(with_positions(loader), depth, pin_memory=pin_memory)
    with contextlib.closing(batches):
        group: list[dict] = []
        for batch, position in batches:
            group.append(batch)
            if len(group) == accumulation:
                yield group, position
                group = []


def with_positions(loader) -> Iterator[tuple[Any, dict]]:
    """``(batch, loader.state_dict())`` for the rest of the loader's current epoch."""
    for batch in loader:
        yield batch, loader.state_dict()


def _pinned(batch: dict) -> dict:
    return {name: tensor.pin_memory() for name, tensor in batch.items()}


def prefetched(items: Iterable[tuple[dict, dict]], depth: int,
               pin_memory: bool = False) -> Iterator[tuple[dict, dict]]:
    """Yield ``items`` in order; with ``depth > 0`` they are produced by a background thread.

    Exceptions raised by the producer are re-raised in the consumer. Closing the generator (e.g.
    the loop breaks at the last step) stops the thread.
    """
    if depth <= 0:
        for batch, position in items:
            yield (_pinned(batch) if pin_memory else batch), position
        return
    buffer: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                buffer.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for batch, position in items:
                if not put(((_pinned(batch) if pin_memory else batch), position)):
                    return
            put(_DONE)
        except BaseException as exc:  # handed to the consumer, which re-raises it
            put(exc)

    thread = threading.Thread(target=produce, name="batch-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            item = buffer.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join(timeout=5)
