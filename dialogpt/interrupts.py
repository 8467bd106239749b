"""Ctrl-C and SIGTERM: a clean one-line stop everywhere, a graceful stop in training.

``terminate_raises`` (used by every entry point through ``dialogpt.cli.run_main``) turns SIGTERM
into a ``Terminated`` exception, so ``finally`` blocks and atomic writes clean up exactly as for
Ctrl-C. ``GracefulStop`` (the training loop) instead records the first Ctrl-C/SIGTERM, so the
loop can finish its step and save; a second Ctrl-C raises ``KeyboardInterrupt`` at once.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from typing import Iterator


class Terminated(KeyboardInterrupt):
    """Raised in the main thread when the process receives SIGTERM."""


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def _raise_terminated(signum, frame):
    raise Terminated()


@contextlib.contextmanager
def terminate_raises() -> Iterator[None]:
    """While active, SIGTERM raises ``Terminated`` (a ``KeyboardInterrupt``) in the main thread."""
    if not _in_main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def reset_in_worker() -> None:
    """Pool initializer for forked workers: drop the parent's signal handlers.

    A worker that inherited ``terminate_raises`` would raise on ``Pool.terminate``'s SIGTERM
    (a traceback, or a worker stuck on the task queue's lock that ``terminate`` waits for
    forever); Ctrl-C is the parent's to handle, and it stops the pool.
    """
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class GracefulStop:
    """Context manager: the first Ctrl-C or SIGTERM sets ``requested``; the loop stops after the
    current step. A second Ctrl-C raises ``KeyboardInterrupt`` immediately (a second SIGTERM is
    ignored: launchers send it to every process)."""

    def __init__(self, message: str = "stopping after the current step; press Ctrl-C again to "
                                      "stop at once (without saving)"):
        self.message = message
        self.signum: int | None = None
        self._previous: dict[int, object] = {}

    @property
    def requested(self) -> bool:
        return self.signum is not None

    @property
    def exit_code(self) -> int:
        """128 + the signal number: 130 for Ctrl-C, 143 for SIGTERM."""
        return 128 + (self.signum or signal.SIGINT)

    def request(self, signum: int = signal.SIGINT) -> None:
        self.signum = signum

    def _handle(self, signum, frame):
        if self.signum is not None:
            if signum == signal.SIGINT:
                raise KeyboardInterrupt
            return
        self.signum = signum
        name = "Ctrl-C" if signum == signal.SIGINT else "SIGTERM"
        print(f"{name}: {self.message}", file=sys.stderr, flush=True)

    def __enter__(self) -> "GracefulStop":
        if _in_main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()
