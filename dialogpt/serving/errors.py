"""Errors the server answers with, in the two shapes clients expect (spec ``serving.md``).

- OpenAI shape (``/v1/*``): ``{"error": {"message", "type", "param", "code"}}``;
- Hugging Face TGI shape (``/generate``, ``/generate_stream``, ``/``, ``/info``):
  ``{"error": message, "error_type": type}`` with TGI's types (``validation`` for bad input,
  ``overloaded`` for a full queue, ``generation`` for a failure while decoding), which the
  ``text-generation`` client maps onto its exception classes.

``APIError`` carries the status, the message and the parameter to blame; ``error_body`` renders it
for the route that failed. A 500 carries ``x-should-retry: false`` (retrying the same input would
fail the same way); a 429 carries ``Retry-After``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    404: "not_found_error",
    413: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
    500: "server_error",
    503: "server_error",
}


@dataclass
class APIError(Exception):
    status: int
    message: str
    param: str | None = None
    code: str | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return self.message

    @property
    def type(self) -> str:
        return ERROR_TYPES.get(self.status, "server_error" if self.status >= 500
                               else "invalid_request_error")


TGI_ROUTES = ("", "/generate", "/generate_stream", "/info")


def is_hf_route(path: str) -> bool:
    """Routes answering errors in the Hugging Face (TGI) shape."""
    return path.rstrip("/") in TGI_ROUTES


def tgi_error_type(status: int) -> str:
    if status == 429 or status == 503:
        return "overloaded"
    if status >= 500:
        return "generation"
    if status in (401, 403):
        return "authentication"
    if status == 404:
        return "not_found"
    return "validation"


def error_body(error: APIError, path: str) -> dict:
    if is_hf_route(path):
        return {"error": error.message, "error_type": tgi_error_type(error.status)}
    return {"error": {"message": error.message, "type": error.type, "param": error.param,
                      "code": error.code}}


def error_headers(error: APIError) -> dict[str, str]:
    headers = dict(error.headers)
    if error.status >= 500:
        headers.setdefault("x-should-retry", "false")
    return headers


def error_response(error: APIError, path: str):
    """The error as a response; ASCII JSON (``\\uXXXX`` escapes), so a message quoting text
    that is not valid Unicode (a lone surrogate) still encodes."""
    import json

    from fastapi.responses import Response

    return Response(json.dumps(error_body(error, path)), status_code=error.status,
                    headers=error_headers(error), media_type="application/json")
