"""Connections and raw bodies: what the server bounds before any handler runs.

- Slow clients (``serve.py --header_timeout --body_timeout --max_connections``): uvicorn reads
  request headers without a time limit, so a client that sends part of its headers (or nothing)
  holds a connection forever. ``protocol_class`` is uvicorn's h11 protocol with a header clock:
  a connection whose request headers are not complete ``header_timeout`` seconds after they
  began (or after it opened) gets a 408 and is closed. The body clock is the middleware's
  (``app.GuardMiddleware.read_body``): the whole body within ``body_timeout`` seconds, else 408.
  ``max_connections`` is uvicorn's ``limit_concurrency``: beyond it a request gets a 503.
- JSON nesting (``json_too_deep``): Python's parser recurses, so ``[[[[...]]]]`` 100 000 deep
  raises ``RecursionError``; the depth is counted on the raw bytes, strings skipped, before any
  parse.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_JSON_DEPTH = 64
"""Deepest JSON nesting a request body may have (the API's bodies need 4; Gradio's under 10)."""
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKET = re.compile(rb"[\[\]{}]")


def json_too_deep(body: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether ``body`` (JSON text, valid or not) nests arrays/objects deeper than ``limit``."""
    if body.count(b"[") + body.count(b"{") <= limit:
        return False
    depth = 0
    for match in _BRACKET.finditer(_STRING.sub(b'""', body)):
        if match.group() in (b"[", b"{"):
            depth += 1
            if depth > limit:
                return True
        else:
            depth = max(0, depth - 1)
    return False


@dataclass(frozen=True)
class ConnectionLimits:
    header_timeout: float = 10.0
    body_timeout: float = 30.0
    max_connections: int = 512


TIMEOUT_RESPONSE = (b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain; charset=utf-8\r\n"
                    b"connection: close\r\ncontent-length: %d\r\n\r\n%s")


def protocol_class(header_timeout: float):
    """uvicorn's ``H11Protocol`` with a clock on request headers (see the module docstring)."""
    import h11
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class HeaderTimeoutProtocol(H11Protocol):
        _header_timer = None

        def connection_made(self, transport) -> None:
            super().connection_made(transport)
            self._arm()  # a connection that never sends a byte is a slow client too

        def data_received(self, data: bytes) -> None:
            if self.conn.their_state is h11.IDLE and self._header_timer is None:
                self._arm()  # the next request's headers begin
            super().data_received(data)
            if self.conn.their_state is not h11.IDLE:
                self._disarm()

        def connection_lost(self, exc) -> None:
            self._disarm()
            super().connection_lost(exc)

        def _arm(self) -> None:
            self._header_timer = self.loop.call_later(header_timeout, self._expire)

        def _disarm(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _expire(self) -> None:
            self._header_timer = None
            if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
                message = (f"request headers not complete within {header_timeout:g} s "
                           "(--header_timeout)\n").encode()
                self.transport.write(TIMEOUT_RESPONSE % (len(message), message))
                self.transport.close()

    return HeaderTimeoutProtocol


def uvicorn_settings(limits: ConnectionLimits) -> dict:
    """Keyword arguments of ``uvicorn.Config`` that bound slow and numerous clients."""
    return {"http": protocol_class(limits.header_timeout),
            "limit_concurrency": limits.max_connections, "timeout_keep_alive": 5}
