"""``EngineLoop``: a thread-safe front for an ``Engine`` (servers, chat pages).

Request threads (or an asyncio loop) call ``submit`` / ``abort``; one background thread owns the
engine: it moves submitted requests in and aborts out between steps, steps while there is work,
and hands each event to its request's handle (a ``queue.Queue``, plus an optional ``on_event``
callback run in the engine thread, e.g. ``loop.call_soon_threadsafe`` for asyncio). A request
submitted while others decode joins them at the next step. An exception inside a step finishes
every request in flight with an ``error`` on its handle and the loop carries on.
"""

from __future__ import annotations

import logging
import queue
import threading
from typing import Callable, Iterator

from dialogpt.decoding.engine.api import Completion, Request, TokenEvent

logger = logging.getLogger(__name__)


class RequestHandle:
    """One submitted request: its events as they happen, its result, its cancellation."""

    def __init__(self, loop: "EngineLoop", request: Request,
                 on_event: Callable[[TokenEvent], None] | None) -> None:
        self.loop, self.request, self.on_event = loop, request, on_event
        self.queue: queue.Queue = queue.Queue()
        self.completion: Completion | None = None
        self.error: BaseException | None = None
        self.done = threading.Event()

    @property
    def request_id(self) -> str:
        return self.request.request_id

    def _deliver(self, event: TokenEvent | BaseException) -> None:
        if isinstance(event, BaseException):
            self.error = event
        elif event.finished:
            self.completion = event.completion
        if self.on_event is not None:
            try:
                self.on_event(event)
            except Exception:  # a consumer's fault must not stop the engine
                logger.exception("on_event of %s failed", self.request_id)
        self.queue.put(event)
        if isinstance(event, BaseException) or event.finished:
            self.done.set()

    def events(self, timeout: float | None = None) -> Iterator[TokenEvent]:
        """The request's events until its last (raises the step's exception on a failure)."""
        while True:
            event = self.queue.get(timeout=timeout)
            if isinstance(event, BaseException):
                raise event
            yield event
            if event.finished:
                return

    def result(self, timeout: float | None = None) -> Completion:
        if not self.done.wait(timeout):
            raise TimeoutError(f"{self.request_id} did not finish in {timeout} s")
        if self.error is not None:
            raise self.error
        return self.completion

    def abort(self) -> None:
        self.loop.abort(self.request_id)


class EngineLoop:
    """Runs ``engine`` in a background thread (see the module docstring)."""

    def __init__(self, engine) -> None:
        self.engine = engine
        self.condition = threading.Condition()
        self.incoming: list[RequestHandle] = []
        self.aborts: list[str] = []
        self.handles: dict[str, RequestHandle] = {}
        self.stopping = False
        self.thread = threading.Thread(target=self._work, name="decoding-engine", daemon=True)

    def start(self) -> "EngineLoop":
        if not self.thread.is_alive():
            self.thread.start()
        return self

    def stop(self, timeout: float = 30.0) -> None:
        with self.condition:
            self.stopping = True
            self.condition.notify_all()
        self.thread.join(timeout)

    def submit(self, request: Request,
               on_event: Callable[[TokenEvent], None] | None = None) -> RequestHandle:
        """Queue ``request``; ValueError at once for one the engine cannot decode."""
        handle = RequestHandle(self, request, on_event)
        with self.condition:
            if request.request_id in self.handles or any(
                    h.request_id == request.request_id for h in self.incoming):
                raise ValueError(f"request id {request.request_id} is already in use")
            self.engine.check(request)
            self.incoming.append(handle)
            self.condition.notify_all()
        return handle

    def abort(self, request_id: str) -> None:
        """Cancel a request: it ends (``abort``) and frees its slot before the next step."""
        with self.condition:
            self.aborts.append(request_id)
            self.condition.notify_all()

    @property
    def pending(self) -> int:
        """Requests submitted and not finished."""
        with self.condition:
            return len(self.incoming) + len(self.handles)

    def _take_work(self) -> bool:
        with self.condition:
            while not self.stopping and not (self.incoming or self.aborts
                                             or self.engine.has_work()):
                self.condition.wait()
            if self.stopping:
                return False
            incoming, self.incoming = self.incoming, []
            aborts, self.aborts = self.aborts, []
        for handle in incoming:
            self.handles[handle.request_id] = handle
            self.engine.add(handle.request)
        for request_id in aborts:
            event = self.engine.abort(request_id)
            if event is not None:
                self._dispatch([event])
        return True

    def _dispatch(self, events) -> None:
        for event in events:
            handle = self.handles.get(event.request_id)
            if handle is None:
                continue
            if event.finished:
                with self.condition:
                    del self.handles[event.request_id]
            handle._deliver(event)

    def _work(self) -> None:
        while self._take_work():
            if not self.engine.has_work():
                continue
            try:
                events = self.engine.step()
            except Exception as exc:
                logger.exception("a decoding step failed; failing %d requests",
                                 len(self.handles))
                self._fail(exc)
                continue
            self._dispatch(events)
            if not self.engine.has_work():
                self.engine.release()

    def _fail(self, exc: BaseException) -> None:
        for request_id in list(self.handles):
            self.engine.abort(request_id)
        with self.condition:
            handles, self.handles = self.handles, {}
        for handle in handles.values():
            handle._deliver(exc)
