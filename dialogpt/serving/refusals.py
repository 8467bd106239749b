"""What this server does not implement is refused with a 400 naming the field, never ignored.

OpenAI routes: tool and function calling, ``response_format`` other than text, ``logit_bias``,
non-zero ``presence_penalty``/``frequency_penalty`` (``repetition_penalty`` is what the decoder
has), ``best_of`` > 1, and content parts other than text (images, audio, files). TGI routes:
``best_of`` > 1, ``typical_p``, ``truncate``, ``watermark``, ``frequency_penalty``, ``grammar``
and ``adapter_id``. Fields sent as null or at their neutral value pass: the official clients
send every field, most of them null.
"""

from __future__ import annotations

from typing import Any

from dialogpt.serving.errors import APIError


def unsupported(param: str, why: str) -> APIError:
    return APIError(400, f"{param}: {why}", param=param, code="unsupported_parameter")


def _nonzero(value: float | None) -> bool:
    return value is not None and value != 0


def refuse_unsupported(body: Any) -> None:
    """A 400 naming the first field set to something this server does not implement."""
    fmt = body.response_format
    fmt_type = fmt.get("type") if isinstance(fmt, dict) else fmt
    checks = [
        ("tools", bool(body.tools), "tool calling is not supported; remove tools"),
        ("tool_choice", body.tool_choice not in (None, "none"),
         "tool calling is not supported; remove tool_choice"),
        ("functions", bool(body.functions), "function calling is not supported"),
        ("function_call", body.function_call not in (None, "none"),
         "function calling is not supported"),
        ("response_format", fmt_type not in (None, "text"),
         "only plain text replies are supported (no JSON mode or schema)"),
        ("logit_bias", bool(body.logit_bias), "logit_bias is not supported"),
        ("presence_penalty", _nonzero(body.presence_penalty),
         "presence_penalty is not supported (use repetition_penalty)"),
        ("frequency_penalty", _nonzero(body.frequency_penalty),
         "frequency_penalty is not supported (use repetition_penalty)"),
        ("best_of", (getattr(body, "best_of", None) or 1) > 1,
         "best_of > 1 is not supported (use n, or num_candidates with an MMI model)"),
    ]
    for param, refused, why in checks:
        if refused:
            raise unsupported(param, why)


def refuse_unsupported_tgi(parameters: Any) -> None:
    """TGI's counterpart of ``refuse_unsupported`` (the official clients send nulls: allowed)."""
    checks = [
        ("best_of", (parameters.best_of or 1) > 1, "best_of > 1 is not supported"),
        ("typical_p", parameters.typical_p not in (None, 1.0),
         "typical_p is not supported (use top_p or top_k)"),
        ("truncate", parameters.truncate is not None,
         "truncate is not supported: the server keeps the newest turns that fit"),
        ("watermark", parameters.watermark, "watermarking is not supported"),
        ("frequency_penalty", _nonzero(parameters.frequency_penalty),
         "frequency_penalty is not supported (use repetition_penalty)"),
        ("grammar", parameters.grammar is not None, "grammar-constrained decoding is not "
                                                    "supported"),
        ("adapter_id", parameters.adapter_id is not None, "adapters are not supported"),
    ]
    for param, refused, why in checks:
        if refused:
            raise unsupported(f"parameters.{param}", why)
