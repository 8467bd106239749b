"""The chat page's HTML has a ``<title>`` (Gradio's template has none until its script runs)."""

from __future__ import annotations

import asyncio
import re

import pytest
from serving_helpers import live_server

from dialogpt.serving.page_title import PageTitle, with_title

HTML = [(b"content-type", b"text/html; charset=utf-8"), (b"content-length", b"37")]


def test_with_title_adds_one_escaped_title_after_head():
    body, headers = with_title(b"<html><head><meta></head><body></body>", HTML, "Chat with a<b")
    assert body == (b"<html><head><title>Chat with a&lt;b</title><meta></head><body></body>")
    assert headers == [(b"content-type", b"text/html; charset=utf-8"),
                       (b"content-length", str(len(body)).encode())]


@pytest.mark.parametrize("body, headers", [
    (b"<head><title>mine</title></head>", HTML),                    # has one already
    (b'{"head": 1}', [(b"content-type", b"application/json")]),    # not HTML
    (b"<head></head>", HTML + [(b"content-encoding", b"gzip")]),    # compressed
    (b"<p>no head</p>", HTML),
])
def test_with_title_leaves_other_bodies_alone(body, headers):
    assert with_title(body, headers, "t") == (body, headers)


def run_asgi(app, method: str, path: str) -> list[dict]:
    sent = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    asyncio.run(app({"type": "http", "method": method, "path": path}, receive, send))
    return sent


async def page(scope, receive, send):
    """An app sending a small HTML page in two chunks."""
    await send({"type": "http.response.start", "status": 200, "headers": HTML})
    await send({"type": "http.response.body", "body": b"<html><head>", "more_body": True})
    await send({"type": "http.response.body", "body": b"</head></html>"})


def test_the_page_gets_its_title_and_other_routes_stream_untouched():
    sent = run_asgi(PageTitle(page, "Chat with m"), "GET", "/")
    assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"]
    assert sent[1]["body"] == b"<html><head><title>Chat with m</title></head></html>"
    assert dict(sent[0]["headers"])[b"content-length"] == str(len(sent[1]["body"])).encode()
    for method, path in (("GET", "/v1/models"), ("POST", "/")):
        untouched = run_asgi(PageTitle(page, "x"), method, path)
        assert [m.get("body") for m in untouched] == [None, b"<html><head>", b"</head></html>"]


@pytest.mark.slow
def test_the_served_page_has_a_title(tiny_gpt2_dir):
    pytest.importorskip("gradio")
    import httpx

    with live_server(["--model", str(tiny_gpt2_dir), "--max_length", "8"], page=True) as live:
        html = httpx.get(live.url + "/", timeout=60).text
    titles = re.findall(r"<title>(.*?)</title>", html)
    assert titles == [f"Chat with {tiny_gpt2_dir.name}"]
