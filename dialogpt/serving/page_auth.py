"""``--api_key`` in front of the chat page: a login form, then the key's proof as a cookie.

The page's own API (Gradio's ``/gradio_api/...``: config, queue, upload) generates text, so with
a key set every page path needs either the API's ``Authorization: Bearer KEY`` or the cookie that
``POST /login`` sets after the key was typed once. The cookie holds an HMAC of the key, never
the key; it is ``HttpOnly`` and ``SameSite=Strict``. The JSON API keeps its bearer header (cookies
are not accepted there: a browser would send them cross-site).
"""

from __future__ import annotations

import hashlib
import hmac
import html
from urllib.parse import parse_qs

COOKIE = "dialogpt_page"
LOGIN_PATH = "/login"


def cookie_value(key: str) -> str:
    return hmac.new(key.encode(), b"dialogpt chat page", hashlib.sha256).hexdigest()


def has_cookie(scope, key: str) -> bool:
    headers = dict(scope.get("headers") or [])
    cookies = headers.get(b"cookie", b"").decode("latin-1")
    for part in cookies.split(";"):
        name, _, value = part.strip().partition("=")
        if name == COOKIE and hmac.compare_digest(value.encode(), cookie_value(key).encode()):
            return True
    return False


def login_form(message: str = "") -> bytes:
    note = f'<p style="color:#b00">{html.escape(message)}</p>' if message else ""
    return (f"""<!doctype html><html><head><meta charset="utf-8"><title>serve.py: key</title>
</head><body style="font-family:sans-serif;max-width:28em;margin:4em auto">
<h2>This server needs its API key</h2>{note}
<form method="post" action="{LOGIN_PATH}"><input type="password" name="key" autofocus
 placeholder="the server's --api_key" style="width:100%;padding:.4em">
<p><button type="submit">Open the chat page</button></p></form></body></html>""").encode()


async def respond(send, status: int, body: bytes, headers: list[tuple[bytes, bytes]] = ()):
    base = [(b"content-type", b"text/html; charset=utf-8"),
            (b"content-length", str(len(body)).encode()), (b"cache-control", b"no-store")]
    await send({"type": "http.response.start", "status": status, "headers": base + list(headers)})
    await send({"type": "http.response.body", "body": body})


async def login(scope, body: bytes, send, key: str) -> None:
    """``GET /login``: the form; ``POST /login``: check the key, set the cookie, go to ``/``."""
    if scope["method"] != "POST":
        await respond(send, 200, login_form())
        return
    given = parse_qs(body.decode("utf-8", "replace")).get("key", [""])[0]
    if not hmac.compare_digest(given.encode(), key.encode()):
        await respond(send, 401, login_form("Wrong key: not the one the server was started "
                                            "with."))
        return
    cookie = f"{COOKIE}={cookie_value(key)}; Path=/; HttpOnly; SameSite=Strict".encode()
    await respond(send, 303, b"", [(b"location", b"/"), (b"set-cookie", cookie)])


async def refuse(scope, send) -> None:
    """A page path without the cookie: the login form for a browser's page load, else a 401."""
    if scope["method"] == "GET" and scope["path"] in ("/", ""):
        await respond(send, 303, b"", [(b"location", LOGIN_PATH.encode())])
        return
    body = (b'{"error": {"message": "the chat page needs the server\'s --api_key: open / and '
            b'type it, or send Authorization: Bearer KEY", "type": "authentication_error", '
            b'"param": null, "code": "invalid_api_key"}}')
    await send({"type": "http.response.start", "status": 401,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
