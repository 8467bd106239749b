"""Token-by-token text of each row of a batch, and Server-Sent Events.

``RowText`` follows one generated sequence: it receives each new token, finds where the reply
ends (EOS, a stop sequence, the request's ``max_tokens``, or a disconnected client) and yields the
text that can already be shown. What is shown is always a prefix of the final reply: trailing
whitespace (the final reply is stripped), an incomplete UTF-8 character and the beginning of a
possible stop sequence are held back. Joining every delta therefore gives exactly the reply a
non-streaming request gets.

``RowStopping`` is a Hugging Face ``StoppingCriteria`` that feeds every row's newest token to its
``RowText`` and tells ``generate`` which rows are finished. It works for sampling and greedy
search (one sequence per row); beam search reorders rows, so beam replies are not streamed.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Sequence

REPLACEMENT = "\ufffd"


def cut_at_stop(text: str, stops: Sequence[str]) -> tuple[str, bool]:
    """``text`` up to the first stop sequence, and whether one was found."""
    positions = [text.find(stop) for stop in stops]
    found = [p for p in positions if p >= 0]
    return (text[:min(found)], True) if found else (text, False)


def showable(text: str, stops: Sequence[str]) -> str:
    """The part of ``text`` (a reply in progress) that no later token can change.

    Held back: the end that may begin a stop sequence, an incomplete UTF-8 character (decoded as
    U+FFFD) and trailing whitespace (the final reply is stripped).
    """
    hold = 0
    for stop in stops:
        for length in range(min(len(stop) - 1, len(text)), 0, -1):
            if text.endswith(stop[:length]):
                hold = max(hold, length)
                break
    visible = text[:len(text) - hold].lstrip()
    while visible.endswith(REPLACEMENT) or visible[-1:].isspace():
        visible = visible[:-1]
    return visible


def final_text(raw: str, stops: Sequence[str]) -> tuple[str, bool]:
    """The reply shown to the client (stripped, cut at a stop sequence), and whether it was cut."""
    text, stopped = cut_at_stop(raw, stops)
    return text.strip(), stopped


class RowText:
    """One generated sequence of a batch (see the module docstring)."""

    def __init__(self, decode_raw: Callable[[list[int]], str], eos_id: int, limit: int,
                 stops: Sequence[str] = (), on_delta: Callable[[str], None] | None = None,
                 cancelled: threading.Event | None = None) -> None:
        self.decode_raw = decode_raw
        self.eos_id = eos_id
        self.limit = limit
        self.stops = tuple(stops)
        self.on_delta = on_delta
        self.cancelled = cancelled
        self.ids: list[int] = []
        self.shown = ""
        self.done = False

    @property
    def finished(self) -> bool:
        return self.done or (self.cancelled is not None and self.cancelled.is_set())

    def push(self, token: int) -> None:
        if self.finished:
            return
        if token == self.eos_id:
            self.done = True
            return
        self.ids.append(token)
        if len(self.ids) >= self.limit:
            self.done = True
        if not self.stops and self.on_delta is None:
            return
        raw = self.decode_raw(self.ids)
        text, stopped = cut_at_stop(raw, self.stops)
        if stopped:
            self.done = True
        elif self.on_delta is not None:
            self._show(showable(text, self.stops))

    def _show(self, visible: str) -> None:
        if visible.startswith(self.shown) and len(visible) > len(self.shown):
            delta = visible[len(self.shown):]
            self.shown = visible
            if self.on_delta is not None:
                self.on_delta(delta)

    def finish(self, text: str) -> None:
        """Show the rest of the final reply ``text`` (a no-op for rows shown whole already)."""
        self._show(text)


def row_stopping(rows: Sequence[RowText]):
    """A ``StoppingCriteria`` feeding ``rows`` (one per batch row) and stopping finished ones."""
    import torch
    from transformers import StoppingCriteria

    class RowStopping(StoppingCriteria):
        def __call__(self, input_ids, scores, **kwargs):
            newest = input_ids[:, -1].tolist()
            for row, token in zip(rows, newest):
                row.push(token)
            return torch.tensor([row.finished for row in rows], dtype=torch.bool,
                                device=input_ids.device)

    return RowStopping()


def sse(data: dict | str) -> str:
    """One Server-Sent Event carrying ``data`` (JSON unless already a string)."""
    payload = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
    return f"data: {payload}\n\n"


KEEPALIVE = ": keep-alive\n\n"
DONE = sse("[DONE]")
