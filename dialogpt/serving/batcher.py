"""Dynamic batching: requests that arrive together are decoded in one ``generate`` call.

Requests wait in a queue. One worker thread (generation never blocks the event loop) takes the
oldest job, waits at most ``max_wait_s`` for more to arrive while the batch has fewer than
``max_batch_size`` rows, and adds every queued job that ``Engine.compatible`` allows (same
decoding settings; replies that fit the model's positions together), oldest first. Jobs that do
not fit stay queued, in order, for the next batch. While a batch is being decoded new requests
accumulate, so under load batches fill up without waiting. ``max_batch_size 1`` decodes one
request at a time.

A full queue (``max_queue`` waiting jobs) refuses new requests with a 429 and a ``Retry-After``
estimated from recent batch times. A cancelled job (its client disconnected) leaves the queue at
once, and stops its rows inside a running batch. An exception while decoding fails every job of
that batch with a 500 and the worker carries on.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque

from dialogpt.serving.errors import APIError

logger = logging.getLogger(__name__)


class Batcher:
    def __init__(self, engine, max_batch_size: int = 32, max_wait_s: float = 0.01,
                 max_queue: int = 256, metrics=None) -> None:
        if max_batch_size < 1 or max_queue < 1 or max_wait_s < 0:
            raise ValueError("max_batch_size and max_queue must be >= 1, max_wait_s >= 0")
        self.engine = engine
        self.max_batch_size = max_batch_size
        self.max_wait_s = max_wait_s
        self.max_queue = max_queue
        self.metrics = metrics
        self.pending: deque = deque()
        self.condition = threading.Condition()
        self.running = 0
        self.batch_seconds = 1.0
        self.stopping = False
        self.thread = threading.Thread(target=self._work, name="generation-worker", daemon=True)

    def start(self) -> Batcher:
        if not self.thread.is_alive():
            self.thread.start()
        return self

    def stop(self) -> None:
        with self.condition:
            self.stopping = True
            self.condition.notify_all()
        self.thread.join(timeout=30)

    def submit(self, job) -> None:
        with self.condition:
            self._drop_cancelled()
            if len(self.pending) >= self.max_queue:
                raise APIError(429, f"the server queue is full ({self.max_queue} requests "
                                    "waiting); retry later", code="queue_full",
                               headers={"Retry-After": str(self.retry_after())})
            self.pending.append(job)
            self._gauges()
            self.condition.notify_all()

    def cancel(self, job) -> None:
        """Free ``job``'s slot: out of the queue now, and its rows stop at the next token."""
        job.cancelled.set()
        with self.condition:
            self._drop_cancelled()
            self._gauges()

    def retry_after(self) -> int:
        batches_ahead = len(self.pending) / self.max_batch_size + 1
        return max(1, math.ceil(batches_ahead * self.batch_seconds))

    def _drop_cancelled(self) -> None:
        if any(job.cancelled.is_set() for job in self.pending):
            self.pending = deque(job for job in self.pending if not job.cancelled.is_set())

    def _gauges(self) -> None:
        if self.metrics is not None:
            self.metrics.set_gauge("queue_depth", len(self.pending))
            self.metrics.set_gauge("requests_in_flight", self.running)

    def _queued_rows(self) -> int:
        return sum(job.rows for job in self.pending)

    def _take_batch(self) -> list:
        """The oldest job and every compatible queued job that fits (call with the lock held)."""
        batch: list = []
        rows = 0
        kept: deque = deque()
        for job in self.pending:
            if job.cancelled.is_set():
                continue
            fits = not batch or (rows + job.rows <= self.max_batch_size
                                 and self.engine.compatible(batch, job))
            if fits:
                batch.append(job)
                rows += job.rows
            else:
                kept.append(job)
        self.pending = kept
        return batch

    def _next_batch(self) -> list | None:
        with self.condition:
            while not self.stopping:
                self._drop_cancelled()
                if self.pending:
                    break
                self.condition.wait()
            if self.stopping:
                return None
            deadline = time.monotonic() + self.max_wait_s
            while (self.max_batch_size > 1 and self._queued_rows() < self.max_batch_size
                   and not self.stopping):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self.condition.wait(remaining)
            batch = self._take_batch()
            self.running = len(batch)
            self._gauges()
            return batch

    def _work(self) -> None:
        while True:
            batch = self._next_batch()
            if batch is None:
                return
            if not batch:
                continue
            started = time.monotonic()
            try:
                self.engine.run_batch(batch)
            except Exception as exc:
                logger.exception("generation failed for a batch of %d requests", len(batch))
                for job in batch:
                    job.emit(("error", APIError(500, f"generation failed: "
                                                     f"{type(exc).__name__}: {exc}")))
            elapsed = time.monotonic() - started
            self.batch_seconds = 0.8 * self.batch_seconds + 0.2 * elapsed
            with self.condition:
                self.running = 0
                self._gauges()
