"""Reading corpus lines safely: bounded memory, byte-exact decoding, normalisation counted.

Lines are split on ``\\n`` only and read in binary, so a broken line costs that line, never the
run (the original decoded the whole file as UTF-8 and died on the first bad byte).
Normalisation (not a skip): a ``\\r\\n`` ending becomes ``\\n``; a UTF-8 byte-order mark at the
start of a line (usually line 1) is removed. A lone ``\\r`` inside a line is whitespace (the
original's universal-newline reading ended the line there). A line longer than
:data:`MAX_LINE_BYTES` is skipped without ever being held in memory.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import BinaryIO, Iterator

from dialogpt.data.features import BadLine

MAX_LINE_BYTES = 1 << 20
"""Longest accepted line, in bytes without its terminator (1 MiB)."""

_BOM = b"\xef\xbb\xbf"
_DISCARD_CHUNK = 1 << 16


def read_raw_lines(handle: BinaryIO, max_bytes: int = MAX_LINE_BYTES
                   ) -> Iterator[bytes | None]:
    """Yield each line's bytes (terminator included), or ``None`` for a line over ``max_bytes``.

    A final line without ``\\n`` is yielded too; an empty file yields nothing.
    """
    limit = max_bytes + 2  # room for "\r\n"
    while True:
        raw = handle.readline(limit)
        if not raw:
            return
        if len(raw) < limit or raw.endswith(b"\n"):
            if len(raw.rstrip(b"\r\n")) > max_bytes:
                yield None
            else:
                yield raw
            continue
        while raw and not raw.endswith(b"\n"):
            raw = handle.readline(_DISCARD_CHUNK)
        yield None


@dataclass(frozen=True)
class DecodedLine:
    text: str
    crlf: bool
    bom: bool


def decode_line(raw: bytes | None) -> DecodedLine:
    """Strip the terminator (``\\n`` or ``\\r\\n``) and a leading BOM; decode strict UTF-8."""
    if raw is None:
        raise BadLine("line_too_long", f"over {MAX_LINE_BYTES} bytes")
    crlf = raw.endswith(b"\r\n")
    raw = raw[:-2] if crlf else raw[:-1] if raw.endswith(b"\n") else raw
    bom = raw.startswith(_BOM)
    if bom:
        raw = raw[len(_BOM):]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadLine("non_utf8", f"byte {exc.start}: {raw[exc.start:exc.start + 4]!r}") from None
    return DecodedLine(text, crlf, bom)
