"""The chat page's ``<title>``, in the HTML the server sends.

Gradio's page template has no ``<title>`` element: its script sets ``document.title`` once the
app has loaded, so until then (and for anything that reads the HTML without running scripts:
``curl``, link previews, a browser's history before the script ran) the page has no title.
:class:`PageTitle` adds ``<title>...</title>`` to the HTML of ``GET /`` when it has none.
"""

from __future__ import annotations

import html


def with_title(body: bytes, headers: list[tuple[bytes, bytes]], title: str
               ) -> tuple[bytes, list[tuple[bytes, bytes]]]:
    """``body`` with ``<title>`` after ``<head>`` (and its ``content-length`` set), unless it is
    not plain HTML, has no ``<head>`` or already has a title."""
    named = {name.lower(): value for name, value in headers}
    if (not named.get(b"content-type", b"").startswith(b"text/html")
            or b"content-encoding" in named or b"<head>" not in body
            or b"<title" in body.lower()):
        return body, headers
    body = body.replace(b"<head>", b"<head><title>" + html.escape(title).encode() + b"</title>", 1)
    headers = [(name, value) for name, value in headers if name.lower() != b"content-length"]
    return body, headers + [(b"content-length", str(len(body)).encode())]


class PageTitle:
    """ASGI middleware: :func:`with_title` on the response of ``GET /``; other requests pass
    through untouched (streams included)."""

    def __init__(self, app, title: str) -> None:
        self.app = app
        self.title = title

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope.get("method") != "GET" or scope.get("path") != "/":
            await self.app(scope, receive, send)
            return
        start: dict = {}
        chunks: list[bytes] = []

        async def buffered(message):
            if message["type"] == "http.response.start":
                start.update(message)
                return
            if message["type"] != "http.response.body" or not start:
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body"):
                return
            body, headers = with_title(b"".join(chunks), list(start.get("headers", [])),
                                       self.title)
            await send({**start, "headers": headers})
            await send({"type": "http.response.body", "body": body})

        await self.app(scope, receive, buffered)
