"""Admission in front of the engine: how many requests may wait, 429 beyond, cancellation.

Batching itself is the decoding engine's (continuous: a request joins the running batch at the
next step and leaves when it ends; ``max_batch_size`` rows decode together). This class only
counts the jobs in flight: more than ``max_batch_size + max_queue`` at once are refused with a
429 and a ``Retry-After`` estimated from recent request times, since the extra ones could only
wait. A cancelled job (its client disconnected) aborts its engine requests at once.
"""

from __future__ import annotations

import math
import threading
import time

from dialogpt.serving.errors import APIError


class Batcher:
    def __init__(self, engine, max_batch_size: int = 32, max_queue: int = 256,
                 metrics=None) -> None:
        if max_batch_size < 1 or max_queue < 1:
            raise ValueError("max_batch_size and max_queue must be >= 1")
        self.engine = engine
        self.max_batch_size = max_batch_size
        self.max_queue = max_queue
        self.metrics = metrics
        self.in_flight: set = set()
        self.lock = threading.Lock()
        self.job_seconds = 1.0

    @property
    def thread(self):
        """The engine's thread (``/health``)."""
        loop = self.engine.loop
        return loop.thread if loop is not None else threading.current_thread()

    @property
    def pending(self) -> list:
        """Jobs waiting for a row: those beyond the ``max_batch_size`` oldest in flight."""
        with self.lock:
            jobs = sorted(self.in_flight, key=lambda job: job.enqueued_at)
        return jobs[self.max_batch_size:]

    @property
    def running(self) -> int:
        with self.lock:
            return min(len(self.in_flight), self.max_batch_size)

    def start(self) -> Batcher:
        self.engine.start()
        return self

    def stop(self) -> None:
        self.engine.stop()

    def submit(self, job) -> None:
        with self.lock:
            if len(self.in_flight) >= self.max_batch_size + self.max_queue:
                raise APIError(429, f"the server queue is full ({self.max_queue} requests "
                                    "waiting); retry later", code="queue_full",
                               headers={"Retry-After": str(self.retry_after())})
            self.in_flight.add(job)
            self._gauges()
        try:
            self.engine.submit(job)
        except BaseException:
            self.finished(job)
            raise

    def finished(self, job) -> None:
        """``job`` ended (answered, failed or cancelled): its place is free."""
        with self.lock:
            if job in self.in_flight:
                self.in_flight.discard(job)
                elapsed = time.monotonic() - job.enqueued_at
                self.job_seconds = 0.8 * self.job_seconds + 0.2 * elapsed
            self._gauges()

    def cancel(self, job) -> None:
        """Free ``job``'s place now; its engine rows stop at the next step."""
        self.engine.cancel(job)
        self.finished(job)

    def retry_after(self) -> int:
        waves = len(self.in_flight) / self.max_batch_size
        return max(1, math.ceil(waves * self.job_seconds))

    def _gauges(self) -> None:
        if self.metrics is not None:
            waiting = max(0, len(self.in_flight) - self.max_batch_size)
            self.metrics.set_gauge("queue_depth", waiting)
            self.metrics.set_gauge("requests_in_flight", len(self.in_flight) - waiting)
