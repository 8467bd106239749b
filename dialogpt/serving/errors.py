"""Errors the server answers with, in the two shapes clients expect (spec ``serving.md``).

- OpenAI shape (``/v1/*``): ``{"error": {"message", "type", "param", "code"}}``;
- Hugging Face TGI shape (``/generate``): ``{"error": message, "error_type": type}``.

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


def is_hf_route(path: str) -> bool:
    """Routes answering errors in the Hugging Face shape."""
    return path.rstrip("/") == "/generate"


def error_body(error: APIError, path: str) -> dict:
    if is_hf_route(path):
        return {"error": error.message, "error_type": error.type}
    return {"error": {"message": error.message, "type": error.type, "param": error.param,
                      "code": error.code}}


def error_headers(error: APIError) -> dict[str, str]:
    headers = dict(error.headers)
    if error.status >= 500:
        headers.setdefault("x-should-retry", "false")
    return headers


def error_response(error: APIError, path: str):
    from fastapi.responses import JSONResponse

    return JSONResponse(error_body(error, path), status_code=error.status,
                        headers=error_headers(error))
