"""Streamed reply text, and Server-Sent Events.

The engine releases each reply's text as it becomes final (stop strings and split UTF-8 held
back); the reply a client gets is stripped, as ``Decoder.decode`` strips it. ``Stripped`` turns
the engine's pieces into pieces of the stripped reply: leading whitespace is dropped and trailing
whitespace held back until non-space text follows it, so the streamed pieces always join to
exactly the reply a non-streaming request gets.
"""

from __future__ import annotations

import json


class Stripped:
    """Pieces of a reply as its stripped text will read (see the module docstring)."""

    def __init__(self) -> None:
        self.started = False
        self.held = ""

    def feed(self, text: str) -> str:
        if not self.started:
            text = text.lstrip()
            self.started = bool(text)
        body = text.rstrip()
        if not body:
            self.held += text
            return ""
        out = self.held + body
        self.held = text[len(body):]
        return out


def sse(data: dict | str) -> str:
    """One Server-Sent Event carrying ``data`` (JSON unless already a string)."""
    payload = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
    return f"data: {payload}\n\n"


KEEPALIVE = ": keep-alive\n\n"
DONE = sse("[DONE]")
