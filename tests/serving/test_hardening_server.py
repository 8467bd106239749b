"""Issue 26 (hardening), the server classes, through real HTTP on 127.0.0.1 (httpx, the OpenAI
client, and raw sockets where a connection itself is the subject).

| class | before | after |
|---|---|---|
| Bad 6: a seed beyond 64 bits | 500 (`Overflow when unpacking long long`) | 400 naming `seed`, on every route |
| Bad 7: `length_penalty: 1e308` (any number out of range, NaN, inf) | 500 | 400 naming the field (the request schema) |
| Bad 8: a lone surrogate (`"\\ud800"`) in any text field | 500 on every route | 400 naming the field, on every route |
| Bad 9: deeply nested JSON; the connection after an error | 500 (`RecursionError`); keep-alive dropped without `Connection: close` | 400 before parsing; every error leaves the connection usable (one socket) |
| Bad 10: `num_beams: 1000` | 23 s with the worker blocked, +1.3 GB | 400 naming `--max_beams`; `n * num_beams` bounded |
| Bad 11: GODEL `max_tokens: 10**9` | ran until the client left, `/health` ok | 400 naming `--max_new_tokens` (512 for seq2seq); `--request_timeout` ends it (504, or a stream's `length`) and frees its slot; `/health` 503 for a stuck worker |
| Weak 8: more prompts than the queue can ever hold | 429 (retrying cannot succeed) | 400 naming the limit |
| Weak 9: slow clients (partial headers or body) | connections held forever | 408 and closed after `--header_timeout` / `--body_timeout`; `--max_connections` (503 beyond) |
| Weak 10: `--api_key` and the chat page's own API | `/gradio_api/...` generated without a key | the page and its API need the key (a login form sets a cookie once); start-up warning when the page is open on a non-loopback host |
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time

import httpx
import pytest
from serving_helpers import live_server

KEY = "hardening-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
HELLO = [{"role": "user", "content": "Hello"}]


@pytest.fixture(scope="module")
def server(tiny_gpt2_dir):
    """The tiny causal model with the page, a key and small limits (2 running + 2 waiting)."""
    with live_server(["--model", str(tiny_gpt2_dir), "--max_length", "8", "--api_key", KEY,
                      "--max_batch_size", "2", "--max_queue", "2", "--max_beams", "4",
                      "--header_timeout", "1", "--body_timeout", "1"], page=True) as live:
        yield live


class Raw:
    """One HTTP/1.1 connection, requests written and responses read by hand."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.buffer = b""

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def request(self, path: str, body: bytes | str, method: str = "POST",
                headers: dict | None = None) -> tuple[int, dict, bytes]:
        body = body.encode() if isinstance(body, str) else body
        lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1",
                 "Content-Type: application/json", f"Content-Length: {len(body)}",
                 *(f"{k}: {v}" for k, v in {**AUTH, **(headers or {})}.items())]
        self.send(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        return self.response()

    def _fill(self) -> bool:
        chunk = self.sock.recv(65536)
        self.buffer += chunk
        return bool(chunk)

    def response(self) -> tuple[int, dict, bytes]:
        while b"\r\n\r\n" not in self.buffer:
            if not self._fill():
                raise ConnectionError("closed before a response")
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        headers = {k.lower(): v.strip() for k, _, v in (h.partition(":") for h in header_lines)}
        length = int(headers.get("content-length", 0))
        while len(self.buffer) < length:
            if not self._fill():
                break
        body, self.buffer = self.buffer[:length], self.buffer[length:]
        return int(status_line.split()[1]), headers, body

    def closed_by_server(self) -> bool:
        try:
            return self.sock.recv(1) == b""
        except (ConnectionResetError, socket.timeout):
            return True

    def close(self) -> None:
        self.sock.close()


def chat(server, **fields) -> httpx.Response:
    return httpx.post(server.api + "/chat/completions", headers=AUTH, timeout=60,
                      json={"messages": HELLO, "max_tokens": 4, **fields})


def post_raw(server, path: str, text: str) -> httpx.Response:
    return httpx.post(server.url + path, headers={**AUTH, "Content-Type": "application/json"},
                      content=text.encode(), timeout=60)


# -- Bad 6, Bad 7: numbers -------------------------------------------------------------------------

@pytest.mark.parametrize("seed", [2 ** 64, 2 ** 70, -1])
def test_bad6_seed_beyond_64_bits_is_400_on_every_route(server, seed):
    for path, body in [("/v1/chat/completions", {"messages": HELLO, "seed": seed}),
                       ("/v1/completions", {"prompt": "Hello", "seed": seed}),
                       ("/generate", {"inputs": "Hello", "parameters": {"seed": seed}})]:
        response = httpx.post(server.url + path, headers=AUTH, json=body, timeout=60)
        assert response.status_code == 400, (path, response.text)
        assert "seed" in response.text
    assert chat(server, seed=2 ** 64 - 1, temperature=0.7).status_code == 200


@pytest.mark.parametrize("field, value", [
    ("length_penalty", "1e308"), ("length_penalty", "NaN"), ("temperature", "1e308"),
    ("temperature", "Infinity"), ("top_p", "NaN"), ("top_p", "-Infinity"),
    ("repetition_penalty", "1e308"), ("repetition_penalty", "0"), ("mmi_temperature", "-1"),
    ("presence_penalty", "1e308"), ("frequency_penalty", "NaN"), ("top_k", "1e10"),
    ("top_k", str(2 ** 40)), ("num_beams", str(2 ** 40)), ("min_tokens", "-1"),
    ("no_repeat_ngram_size", str(2 ** 63)), ("max_tokens", str(2 ** 63)),
    ("num_candidates", "0"), ("n", str(2 ** 70)),
])
def test_bad7_every_number_out_of_range_or_not_finite_is_400(server, field, value):
    body = f'{{"messages": [{{"role": "user", "content": "Hello"}}], "{field}": {value}}}'
    response = post_raw(server, "/v1/chat/completions", body)
    assert response.status_code == 400 and field in response.text, response.text


@pytest.mark.parametrize("field, value", [
    ("temperature", "1e308"), ("top_p", "NaN"), ("repetition_penalty", "Infinity"),
    ("top_n_tokens", "-1"), ("typical_p", "2"), ("max_new_tokens", str(2 ** 63)),
    ("seed", str(2 ** 64)), ("truncate", "-5"),
])
def test_bad7_tgi_parameters_out_of_range_are_400(server, field, value):
    response = post_raw(server, "/generate", f'{{"inputs": "Hello", "parameters": '
                                             f'{{"{field}": {value}}}}}')
    assert response.status_code == 400, response.text
    assert response.json()["error_type"] == "validation" and field in response.json()["error"]


# -- Bad 8: lone surrogates ------------------------------------------------------------------------

SURROGATE_BODIES = [
    ("/v1/chat/completions", '{"messages": [{"role": "user", "content": "hi \\ud800"}]}'),
    ("/v1/chat/completions", '{"messages": [{"role": "user", "content": [{"type": "text", '
                             '"text": "\\udc00x"}]}]}'),
    ("/v1/chat/completions", '{"messages": [{"role": "user", "content": "hi"}], '
                             '"stop": ["\\ud83d"]}'),
    ("/v1/chat/completions", '{"messages": [{"role": "user", "content": "hi"}], '
                             '"model": "\\ud800"}'),
    ("/v1/completions", '{"prompt": "x \\udfff"}'),
    ("/v1/completions", '{"prompt": "x", "user": "\\ud800", "\\udc01": 1}'),
    ("/generate", '{"inputs": "\\ud800"}'),
    ("/generate_stream", '{"inputs": "hi", "parameters": {"stop": ["\\ud800"]}}'),
    ("/", '{"inputs": "\\ud800", "stream": false}'),
    ("/generate", '{"msg": ["hi", "\\ud800"], "knowledge": ""}'),
]


@pytest.mark.parametrize("path, body", SURROGATE_BODIES)
def test_bad8_lone_surrogate_in_any_text_field_is_400_on_every_route(server, path, body):
    response = post_raw(server, path, body)
    assert response.status_code == 400, response.text
    assert "lone surrogate" in response.text
    if body.count("\\u") == 1 and "\\ud800" in body:  # half of a pair, it is text (an emoji)
        paired = post_raw(server, path, body.replace("\\ud800", "\\ud83d\\ude00"))
        assert paired.status_code in (200, 404), paired.text  # 404: no model of that name


# -- Bad 9: nesting, and the keep-alive connection after every error -------------------------------

def deep(levels: int) -> str:
    return '{"messages": ' + "[" * levels + "]" * levels + "}"


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/completions", "/generate",
                                  "/generate_stream", "/"])
def test_bad9_deep_nesting_is_400_before_parsing(server, path):
    response = post_raw(server, path, deep(100_000))
    assert response.status_code == 400 and "deeper than 64" in response.text
    assert post_raw(server, path, deep(60)).status_code != 500  # parsed, then a shape error


def test_bad9_every_error_leaves_the_keep_alive_connection_usable(server, monkeypatch):
    raw = Raw(server.port)
    ok = json.dumps({"messages": HELLO, "max_tokens": 2})
    bad_requests = [
        deep(100_000),                                                        # too deep: 400
        '{"messages": [{"role": "user", "content": "\\ud800"}]}',            # surrogate: 400
        '{"messages": [{"role": "user", "content": "hi"}], "seed": 1e400}',  # not a number
        '{"messages": [{"role": "user", "content": "hi"}], "seed": ' + str(2 ** 70) + "}",
        '{"messages": [',                                                    # broken JSON
        '{"messages": "hi"}',                                                # wrong type: 422
    ]
    statuses = []
    for body in bad_requests:
        status, headers, _ = raw.request("/v1/chat/completions", body)
        statuses.append(status)
        assert headers.get("connection", "").lower() != "close"
        assert raw.request("/v1/chat/completions", ok)[0] == 200  # the same socket
    assert statuses == [400, 400, 400, 400, 400, 422]
    status, _, _ = raw.request("/v1/chat/completions", ok, headers={"Authorization": "Bearer x"})
    assert status == 401 and raw.request("/v1/chat/completions", ok)[0] == 200

    def broken(*args, **kwargs):  # an unforeseen fault inside a handler
        raise RuntimeError("boom")

    monkeypatch.setattr(server.state.engine, "prepare", broken)
    status, headers, body = raw.request("/v1/chat/completions", ok)
    assert status == 500 and "RuntimeError: boom" in body.decode()
    monkeypatch.undo()
    assert raw.request("/v1/chat/completions", ok)[0] == 200  # still the same socket
    raw.send(b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer "
             + KEY.encode() + b"\r\nContent-Length: 2000000\r\n\r\n{")  # over the limit:
    # the rest of the body stays unread...
    status, headers, _ = raw.response()
    assert status == 413 and headers["connection"] == "close"  # ...so the server says close
    assert raw.closed_by_server()
    raw.close()


# -- Bad 10: beams ---------------------------------------------------------------------------------

def test_bad10_beams_are_capped_and_n_times_beams_bounded(server):
    response = chat(server, num_beams=1000)
    assert response.status_code == 400
    assert "num_beams 1000 is over the server's limit of 4 (--max_beams)" in response.text
    response = chat(server, num_beams=4, n=8)
    assert response.status_code == 400
    assert "n * num_beams = 32 sequences is over the server's limit of 8" in response.text
    tgi = httpx.post(server.url + "/generate", headers=AUTH, timeout=60,
                     json={"inputs": "Hello", "parameters": {"num_beams": 50}})
    assert tgi.status_code == 400 and "--max_beams" in tgi.json()["error"]
    assert chat(server, num_beams=4, n=2).status_code == 200


# -- Weak 8: more prompts than the queue can hold --------------------------------------------------

def test_weak8_more_prompts_than_the_queue_can_hold_is_400_naming_the_limit(server):
    response = httpx.post(server.api + "/completions", headers=AUTH, timeout=60,
                          json={"prompt": ["Hello"] * 5, "max_tokens": 2})
    assert response.status_code == 400
    assert ("the request holds 5 prompts, more than the server can ever hold at once (4: "
            "--max_batch_size + --max_queue)") in response.text
    ok = httpx.post(server.api + "/completions", headers=AUTH, timeout=60,
                    json={"prompt": ["Hello"] * 4, "max_tokens": 2})
    assert ok.status_code == 200 and len(ok.json()["choices"]) == 4


# -- Weak 9: slow clients --------------------------------------------------------------------------

def test_weak9_partial_headers_get_408_and_the_connection_closes(server):
    raw = Raw(server.port)
    raw.send(b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Le")
    status, headers, body = raw.response()  # the server speaks first: the headers timed out
    assert status == 408 and headers["connection"] == "close"
    assert b"--header_timeout" in body and raw.closed_by_server()
    silent = Raw(server.port)  # a connection that sends nothing at all
    assert silent.response()[0] == 408 and silent.closed_by_server()


def test_weak9_a_body_that_stops_arriving_gets_408(server):
    raw = Raw(server.port)
    raw.send(b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer "
             + KEY.encode() + b"\r\nContent-Type: application/json\r\nContent-Length: 200\r\n"
             b"\r\n{\"messages\": [")
    status, headers, body = raw.response()
    assert status == 408 and headers["connection"] == "close" and b"--body_timeout" in body
    assert raw.closed_by_server()


def test_weak9_open_connections_are_capped(tiny_gpt2_dir):
    with live_server(["--model", str(tiny_gpt2_dir), "--max_length", "4",
                      "--max_connections", "3"]) as capped:
        idle = [Raw(capped.port) for _ in range(2)]  # open, silent (for --header_timeout 10 s)
        try:
            with httpx.Client(timeout=30) as client:
                client.get(capped.url + "/v1/models")  # the server has seen both idle sockets
                response = client.get(capped.url + "/health")  # the third connection...
            assert response.status_code == 503  # ...over --max_connections
        finally:
            for raw in idle:
                raw.close()
        deadline = time.monotonic() + 30
        while httpx.get(capped.url + "/health", timeout=30).status_code != 200:
            assert time.monotonic() < deadline
            time.sleep(0.1)


# -- Weak 10: the chat page and its own API --------------------------------------------------------

def test_weak10_the_page_and_its_api_need_the_key(server):
    with httpx.Client(base_url=server.url, timeout=60) as browser:
        assert browser.get("/gradio_api/info").status_code == 401
        assert browser.get("/config").status_code == 401
        assert browser.post("/gradio_api/queue/join", json={"data": ["hi"]}).status_code == 401
        page = browser.get("/", follow_redirects=True)
        assert page.status_code == 200 and "needs its API key" in page.text
        wrong = browser.post("/login", data={"key": "guess"})
        assert wrong.status_code == 401 and "Wrong key" in wrong.text
        assert "dialogpt_page" not in browser.cookies
        login = browser.post("/login", data={"key": KEY})
        assert login.status_code == 303 and KEY not in login.headers["set-cookie"]
        assert "HttpOnly" in login.headers["set-cookie"]
        assert browser.get("/config").status_code == 200  # the cookie opens the page's API
        assert browser.get("/").status_code == 200
        assert browser.post(server.api + "/chat/completions",
                            json={"messages": HELLO}).status_code == 401  # the API: bearer only
    assert httpx.get(server.url + "/config", headers=AUTH, timeout=60).status_code == 200


def test_weak10_start_up_warns_when_the_page_is_open_on_the_network(caplog):
    from dialogpt.serving.cli import ServeConfig, warn_if_open

    with caplog.at_level(logging.WARNING):
        warn_if_open(ServeConfig(host="0.0.0.0", page=True))
        warn_if_open(ServeConfig(host="0.0.0.0", page=True, api_key="k"))
        warn_if_open(ServeConfig(host="127.0.0.1", page=True))
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == ["serving on 0.0.0.0 without --api_key: anyone who can reach it can use "
                        "the API and the chat page at / (which generates without a key; pass "
                        "--api_key, or --page false)"]


# -- Bad 11: seq2seq token caps, the request timeout, a stuck worker -------------------------------

@pytest.fixture(scope="module")
def godel(tiny_t5_serve_dir):
    """A random tiny T5 (it never picks EOS: every reply runs to its token limit)."""
    with live_server(["--model", str(tiny_t5_serve_dir), "--max_length", "8",
                      "--request_timeout", "0.3", "--max_new_tokens", "4000"]) as live:
        yield live


def test_bad11_seq2seq_max_new_tokens_default_cap_is_512(tiny_t5_serve_dir):
    with live_server(["--model", str(tiny_t5_serve_dir), "--max_length", "8"]) as live:
        response = httpx.post(live.api + "/chat/completions", timeout=60,
                              json={"messages": HELLO, "max_tokens": 10 ** 9})
        assert response.status_code == 400
        assert ("max_tokens 1000000000 is over the server's limit of 512 new tokens "
                "(--max_new_tokens)") in response.text
        tgi = httpx.post(live.url + "/generate", timeout=60,
                         json={"inputs": "hi", "parameters": {"max_new_tokens": 513}})
        assert tgi.status_code == 400 and "--max_new_tokens" in tgi.text


def wait_until_idle(state, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while state.batcher.in_flight or state.engine.loop.pending:
        assert time.monotonic() < deadline, "the timed-out request kept its slot"
        time.sleep(0.02)


def test_bad11_request_timeout_ends_the_request_and_frees_its_slot(godel):
    response = httpx.post(godel.api + "/chat/completions", timeout=60,
                          json={"messages": HELLO, "max_tokens": 4000})
    assert response.status_code == 504
    assert "--request_timeout of 0.3 s: stopped, its slot freed" in response.text
    wait_until_idle(godel.state)
    chunks = []
    with httpx.stream("POST", godel.api + "/chat/completions", timeout=60,
                      json={"messages": HELLO, "max_tokens": 4000, "stream": True}) as stream:
        for line in stream.iter_lines():
            if line.startswith("data: ") and line != "data: [DONE]":
                chunks.append(json.loads(line[6:]))
    assert chunks[-1]["choices"][0]["finish_reason"] == "length"
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks)
    assert text  # what was decoded before the limit came through
    wait_until_idle(godel.state)
    health = httpx.get(godel.url + "/health", timeout=30)
    assert health.status_code == 200 and health.json()["status"] == "ok"
    quick = httpx.post(godel.api + "/chat/completions", timeout=60,
                       json={"messages": HELLO, "max_tokens": 2})
    assert quick.status_code == 200 and quick.json()["choices"][0]["finish_reason"] == "length"


def test_bad11_health_reports_a_stuck_worker(godel, monkeypatch):
    from dialogpt.serving import routes

    core = godel.state.engine.loop.engine
    release = threading.Event()
    real_step = type(core).step

    def hanging_step(self):  # a decoding step that never returns (until the test ends)
        release.wait(60)
        return real_step(self)

    monkeypatch.setattr(routes, "STUCK_GRACE_SECONDS", 0.2)
    monkeypatch.setattr(type(core), "step", hanging_step)
    try:
        response = httpx.post(godel.api + "/chat/completions", timeout=60,
                              json={"messages": HELLO, "max_tokens": 50})
        assert response.status_code == 504
        time.sleep(0.3)
        health = httpx.get(godel.url + "/health", timeout=30)
        assert health.status_code == 503
        assert health.json()["status"] == "worker stuck (1 timed-out request(s) still decoding)"
    finally:
        monkeypatch.setattr(type(core), "step", real_step)
        release.set()
    wait_until_idle(godel.state)
    assert httpx.get(godel.url + "/health", timeout=30).json()["status"] == "ok"


def test_bad11_request_timeout_stops_beam_search_at_its_next_step(godel, monkeypatch):
    """Beam search runs Hugging Face ``generate`` in the worker: the timeout must end it there
    too (not only answer 504), so the worker is free and ``/health`` has nothing stuck."""
    from dialogpt.decoding.generation import Decoder

    produced = []
    real_generate_ids = Decoder.generate_ids

    def recording_generate_ids(self, *args, **kwargs):
        groups = real_generate_ids(self, *args, **kwargs)
        produced.extend(len(ids) for group in groups for ids in group)
        return groups

    monkeypatch.setattr(Decoder, "generate_ids", recording_generate_ids)
    response = httpx.post(godel.api + "/chat/completions", timeout=60,
                          json={"messages": HELLO, "max_tokens": 4000, "num_beams": 2})
    assert response.status_code == 504
    wait_until_idle(godel.state)
    deadline = time.monotonic() + 60
    while not produced:  # generate returns at its next step after the cancel
        assert time.monotonic() < deadline, "beam search kept decoding after the timeout"
        time.sleep(0.05)
    assert 0 < max(produced) < 4000  # stopped early: the tiny T5 never picks EOS by itself
    assert httpx.get(godel.url + "/health", timeout=30).json()["status"] == "ok"
