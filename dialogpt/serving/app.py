"""The FastAPI application: routes, request limits, authentication, errors, metrics, the page.

``create_app(state)`` wires the handlers of ``routes`` and wraps them in one ASGI middleware that,
for every request:
- refuses a body over ``max_request_bytes`` with a 413 (by ``Content-Length`` or by counting), a
  body not received within ``--body_timeout`` with a 408, and JSON nested deeper than
  ``connections.MAX_JSON_DEPTH`` with a 400, before any parse;
- requires ``Authorization: Bearer KEY`` on ``/v1/*`` and TGI's generation routes (``/generate``,
  ``/generate_stream``, ``POST /``) when a key is set (401), and on the chat page and its own API
  (``/gradio_api/...``) the key or the cookie of ``/login`` (``page_auth``);
- counts the answer by route and status and times it until its last byte (``/metrics``).
Every error leaves in the route's error shape (OpenAI, or Hugging Face TGI's on its routes); an
unexpected exception is a 500 in that shape and the server keeps serving. Every error leaves
the keep-alive connection usable (an exception escaping to uvicorn would make it drop the
connection without ``Connection: close``); one whose body was left unread says
``Connection: close``.
"""


import asyncio
import hmac
import json
import logging
import time

from dialogpt.serving.errors import APIError, error_body, error_headers, error_response
from dialogpt.serving import page_auth, tgi
from dialogpt.serving.connections import MAX_JSON_DEPTH, json_too_deep
from dialogpt.serving.routes import (
    ServerState,
    chat_completions,
    completions,
    get_model,
    health,
    list_models,
)

logger = logging.getLogger(__name__)

CLOSE = {"Connection": "close"}
ROUTES = ("/v1/chat/completions", "/v1/completions", "/v1/models", "/generate",
          "/generate_stream", "/info", "/health", "/metrics")
TGI_GENERATION = ("/generate", "/generate_stream")


def needs_key(path: str, method: str = "POST") -> bool:
    """The API's routes; ``POST /`` is TGI's generation route (``GET /`` is the page)."""
    trimmed = path.rstrip("/")
    return (path.startswith("/v1/") or trimmed in TGI_GENERATION
            or (trimmed == "" and method == "POST"))


def route_label(path: str, method: str = "GET") -> str:
    if path in ROUTES:
        return path
    if path.startswith("/v1/models/"):
        return "/v1/models/{id}"
    if path == "/" and method == "POST":
        return "/ (TGI)"
    return "page" if not path.startswith("/v1") else "other"


async def send_error(send, error: APIError, path: str) -> None:
    body = json.dumps(error_body(error, path)).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    headers += [(k.lower().encode(), v.encode()) for k, v in error_headers(error).items()]
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class GuardMiddleware:
    """Body limits, keys and metrics around the whole application (pure ASGI)."""

    def __init__(self, app, state: ServerState, page: bool = False,
                 body_timeout: float = 30.0) -> None:
        self.app = app
        self.state = state
        self.page = page
        self.body_timeout = body_timeout

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path = scope["path"]
        started = time.monotonic()
        status = {"code": 500}

        async def counting_send(message):
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                status["started"] = True
            await send(message)

        try:  # the body is read first: an error sent with it unread would end the connection
            receive, error = await self.read_body(scope, receive)
            if error is None and self.page_locked(scope):
                return await page_auth.refuse(scope, counting_send)
            if error is None:
                error = self.check_key(scope)
            if error is not None:
                await send_error(counting_send, error, path)
            elif self.page and self.state.api_key and path == page_auth.LOGIN_PATH:
                body = (await receive()).get("body", b"")
                await page_auth.login(scope, body, counting_send, self.state.api_key)
            else:
                await self.run_app(scope, receive, counting_send, status)
        finally:
            label = route_label(path, scope["method"])
            if label != "page":
                self.state.metrics.inc("requests_total", route=label,
                                       status=str(status["code"]))
                self.state.metrics.observe("request_latency_seconds",
                                           time.monotonic() - started, route=label)

    async def run_app(self, scope, receive, send, status: dict) -> None:
        """The application; an exception it lets out is a 500 in the route's shape, and the
        connection stays open (raised on to uvicorn, it would drop the connection)."""
        try:
            await self.app(scope, receive, send)
        except Exception as exc:
            if status.get("started"):
                raise  # a streamed answer already begun cannot turn into an error
            logger.exception("unexpected error on %s", scope["path"])
            await send_error(send, APIError(500, f"internal error: {type(exc).__name__}: {exc}"),
                             scope["path"])

    def page_locked(self, scope) -> bool:
        """A chat-page path (the page, its assets, Gradio's API) without the key or cookie."""
        key = self.state.api_key
        if not (self.page and key) or route_label(scope["path"], scope["method"]) != "page":
            return False
        if scope["path"] == page_auth.LOGIN_PATH or page_auth.has_cookie(scope, key):
            return False
        return self.check_bearer(scope) is not None

    def check_key(self, scope) -> APIError | None:
        key = self.state.api_key
        if not key or not needs_key(scope["path"], scope["method"]):
            return None
        return self.check_bearer(scope)

    def check_bearer(self, scope) -> APIError | None:
        key = self.state.api_key
        headers = dict(scope.get("headers") or [])
        given = headers.get(b"authorization", b"").decode("latin-1")
        scheme, _, token = given.partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(),
                                                              key.encode()):
            return None
        return APIError(401, "missing or wrong API key: send 'Authorization: Bearer KEY' with "
                             "the server's --api_key", code="invalid_api_key")

    async def read_body(self, scope, receive):
        """Read the whole body (bounded) and replay it; a 413 error when it is too large."""
        limit = self.state.max_request_bytes
        too_large = APIError(413, f"the request body is over the server's limit of {limit} "
                                  "bytes (--max_request_bytes)", code="request_too_large",
                             headers=CLOSE)  # the rest of the body is left unread
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            return receive, too_large
        if scope["method"] in ("GET", "HEAD"):
            return receive, None
        chunks, size = [], 0
        deadline = time.monotonic() + self.body_timeout
        while True:
            try:
                message = await asyncio.wait_for(receive(), max(0.0, deadline - time.monotonic()))
            except asyncio.TimeoutError:
                return receive, APIError(408, f"the request body did not arrive within "
                                              f"{self.body_timeout:g} s (--body_timeout)",
                                         code="request_timeout", headers=CLOSE)
            if message["type"] == "http.disconnect":
                break
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > limit:
                return receive, too_large
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
        if json_too_deep(body):
            return receive, APIError(400, f"the body nests JSON deeper than {MAX_JSON_DEPTH} "
                                          "levels", code="too_deep")
        replayed = False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        return replay, None


def create_app(state: ServerState, page: bool = True, body_timeout: float = 30.0):
    from fastapi import FastAPI, Request
    from fastapi.responses import PlainTextResponse

    app = FastAPI(title="DialoGPT / GODEL server", docs_url="/docs", redoc_url=None)

    @app.exception_handler(APIError)
    async def api_error(request: Request, error: APIError):
        return error_response(error, request.url.path)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception):
        logger.exception("unexpected error on %s", request.url.path)
        return error_response(APIError(500, f"internal error: {type(exc).__name__}: {exc}"),
                              request.url.path)

    @app.post("/v1/chat/completions")
    async def chat(request: Request):
        return await chat_completions(request, state)

    @app.post("/v1/completions")
    async def complete(request: Request):
        return await completions(request, state)

    @app.get("/v1/models")
    async def models():
        return list_models(state)

    @app.get("/v1/models/{name:path}")
    async def model(name: str):
        return get_model(state, name)

    @app.post("/generate")
    async def generate(request: Request):
        return await tgi.generate(request, state)

    @app.post("/generate_stream")
    async def generate_stream(request: Request):
        return await tgi.stream(request, state)

    @app.post("/")
    async def tgi_compat(request: Request):
        return await tgi.compat(request, state)

    @app.get("/info")
    async def info():
        return tgi.info(state)

    @app.get("/health")
    async def healthy():
        return health(state)

    @app.get("/metrics")
    async def metrics():
        return PlainTextResponse(state.metrics.render(),
                                 media_type="text/plain; version=0.0.4; charset=utf-8")

    @app.api_route("/v1/{rest:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
    async def unknown(request: Request, rest: str):
        raise APIError(404, f"no endpoint {request.method} /v1/{rest}: this server has POST "
                            "/v1/chat/completions, POST /v1/completions and GET /v1/models",
                       code="not_found")

    if page:
        from dialogpt.serving.page import mount_page

        app = mount_page(app, state)
    app.add_middleware(GuardMiddleware, state=state, page=page, body_timeout=body_timeout)
    return app
