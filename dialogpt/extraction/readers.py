"""Streaming line readers for Reddit dumps: ``.zst`` (long window), ``.bz2``, ``.xz``, ``.gz``, plain.

Files are decompressed chunk by chunk with incremental decompressors (memory stays bounded
whatever the dump size) and split on ``\\n`` into raw ``bytes`` lines, which ``orjson`` parses
without a decode step. Multi-stream files (``pbzip2``, concatenated gzip members, several zstd
frames) are read to the end.

A file that stops inside a compressed stream raises ``TruncatedDumpError`` naming the file and
the compressed byte offset where data ran out; ``zstandard``'s own stream reader would silently
return the partial data instead.
"""

from __future__ import annotations

import bz2
import lzma
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Protocol, TextIO

try:  # ISA-L's gzip, with the [fast] extra: the same format, decompressed about 1.6x and
    # compressed (level 1) about 3x faster than through zlib
    from isal import igzip as _gzip
    from isal.isal_zlib import error as _IsalError
    GZIP_ERRORS: tuple[type[Exception], ...] = (OSError, EOFError, zlib.error, _IsalError)
except ImportError:
    import gzip as _gzip
    GZIP_ERRORS = (OSError, EOFError, zlib.error)
"""What reading a corrupt or truncated gzip file may raise."""

ZSTD_MAX_WINDOW = 2 ** 31
SUFFIXES = (".zst", ".bz2", ".xz", ".gz", ".json", ".ndjson", "")
_CHUNK = 1 << 20


class DumpReadError(Exception):
    """A dump cannot be read to its end (corrupt or truncated); the message names file and offset."""


class TruncatedDumpError(DumpReadError):
    pass


class _Decompressor(Protocol):
    eof: bool
    unused_data: bytes

    def decompress(self, data: bytes) -> bytes: ...


def _zstd_decompressor() -> _Decompressor:
    import zstandard
    return zstandard.ZstdDecompressor(max_window_size=ZSTD_MAX_WINDOW).decompressobj()


_DECOMPRESSORS = {
    ".zst": _zstd_decompressor,
    ".bz2": bz2.BZ2Decompressor,
    ".xz": lzma.LZMADecompressor,
    ".gz": lambda: zlib.decompressobj(wbits=31),
}


def gunzip(data: bytes) -> bytes:
    """``gzip.decompress`` (every member), through ISA-L when it is installed."""
    return _gzip.decompress(data)


def gzip_text_writer(path: str | Path, compresslevel: int = 1) -> TextIO:
    """``gzip.open(path, "wt")``, UTF-8 with ``\\n`` newlines, through ISA-L when installed
    (ISA-L's levels are 0-3: its output differs from zlib's, its text never does)."""
    return _gzip.open(path, "wt", compresslevel=compresslevel, encoding="utf-8", newline="\n")


def find_dump(dumps_dir: str | Path, kind: str, month: str) -> Path:
    """The dump ``{kind}_{month}`` in ``dumps_dir`` with the first suffix of ``SUFFIXES`` found."""
    dumps_dir = Path(dumps_dir)
    for suffix in SUFFIXES:
        path = dumps_dir / f"{kind}_{month}{suffix}"
        if path.is_file():
            return path
    raise FileNotFoundError(
        f"no dump {kind}_{month}{{{','.join(SUFFIXES[:-1])}}} in {dumps_dir}: put the monthly "
        "Reddit dump there (set S=...), or download it with "
        "`python -m dialogpt.extraction.fetch dumps`")


@dataclass
class ReadStats:
    """Counters a reader updates as it goes (read them after the iteration)."""

    compressed_bytes: int = 0
    bytes: int = 0
    lines: int = 0
    offset: int = 0
    """Decompressed byte offset where the line last yielded starts."""
    chunk_start: int = 0
    """Compressed byte offset of the chunk that line was decompressed from (1 MiB reads)."""


def _decompressed_chunks(path: Path, stats: ReadStats) -> Iterator[bytes]:
    factory = _DECOMPRESSORS.get(path.suffix)
    with open(path, "rb") as raw:
        if factory is None:
            while chunk := raw.read(_CHUNK):
                stats.compressed_bytes += len(chunk)
                yield chunk
            return
        decompressor = factory()
        fed = False
        while chunk := raw.read(_CHUNK):
            offset = stats.chunk_start = stats.compressed_bytes
            stats.compressed_bytes += len(chunk)
            try:
                while chunk:
                    if decompressor.eof:  # another stream follows the finished one
                        decompressor = factory()
                    yield decompressor.decompress(chunk)
                    fed = True
                    chunk = decompressor.unused_data if decompressor.eof else b""
            except (OSError, EOFError, ValueError, zlib.error, lzma.LZMAError) as exc:
                raise DumpReadError(f"{path}: corrupt compressed data near byte {offset} "
                                    f"({type(exc).__name__}: {exc}); re-download the file") from exc
            except Exception as exc:  # zstandard.ZstdError has no common base with the others
                if type(exc).__name__ != "ZstdError":
                    raise
                raise DumpReadError(f"{path}: corrupt compressed data near byte {offset} "
                                    f"({exc}); re-download the file") from exc
        if not fed or not decompressor.eof:
            raise TruncatedDumpError(
                f"{path}: truncated: the compressed stream ends unfinished at byte "
                f"{stats.compressed_bytes} (after {stats.lines} complete lines); the file is "
                "incomplete, re-download or resume it")


def iter_lines(path: str | Path, stats: ReadStats | None = None) -> Iterator[bytes]:
    """Yield the lines of a (compressed) dump as ``bytes`` without the trailing newline.

    Empty lines are skipped. Raises ``DumpReadError`` (or its ``TruncatedDumpError``) when the
    file cannot be read to its end; lines before that point have been yielded already, so callers
    must write their outputs atomically.
    """
    path = Path(path)
    stats = stats if stats is not None else ReadStats()
    rest = b""
    position = 0  # decompressed offset of ``rest``
    for chunk in _decompressed_chunks(path, stats):
        if not chunk:
            continue
        stats.bytes += len(chunk)
        lines = (rest + chunk).split(b"\n")
        rest = lines.pop()
        for line in lines:
            if line.strip():
                stats.lines += 1
                stats.offset = position
                yield line
            position += len(line) + 1
    if rest.strip():
        stats.lines += 1
        stats.offset = position
        yield rest
