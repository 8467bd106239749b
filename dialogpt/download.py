"""Resumable, verified downloads (dumps, released id files, demo data).

- Partial data lives in ``DEST.part``; a retry or a re-run continues it with an HTTP ``Range``
  request (a server that ignores ranges restarts it from byte 0).
- Retries are bounded (the original's ``wget --tries=0`` retried forever), with exponential
  backoff; HTTP 4xx errors other than 408/429 are not retried.
- A known sha256 is checked before the file is renamed into place, so ``DEST`` is always whole.
"""

from __future__ import annotations

import http.client
import logging
import os
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from dialogpt.cli import UserError
from dialogpt.config import flag
from dialogpt.fileio import sha256_file

logger = logging.getLogger(__name__)

_RETRYABLE_HTTP = {408, 429, 500, 502, 503, 504}
_CHUNK = 1 << 16


class DownloadError(UserError):
    """A download failed for good (bounded retries exhausted, 404, checksum mismatch)."""


def _fetch_into(url: str, part: Path, timeout: float, progress: bool) -> None:
    """Append the rest of ``url`` to ``part`` (one attempt)."""
    offset = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"User-Agent": "dialogpt-lsp"})
    if offset:
        request.add_header("Range", f"bytes={offset}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and offset:
            return  # the part file already holds the whole resource
        raise
    with response:
        if offset and response.status != 206:
            offset = 0  # the server ignored the range: start over
        length = response.headers.get("Content-Length")
        total = offset + int(length) if length is not None else None
        bar = None
        if progress:
            from tqdm import tqdm
            bar = tqdm(total=total, initial=offset, unit="B", unit_scale=True,
                       desc=Path(part.name[:-len(".part")]).name, leave=False)
        try:
            with open(part, "ab" if offset else "wb") as out:
                while chunk := response.read(_CHUNK):
                    out.write(chunk)
                    if bar is not None:
                        bar.update(len(chunk))
        finally:
            if bar is not None:
                bar.close()
        if total is not None and part.stat().st_size < total:
            raise ConnectionError(f"connection closed at byte {part.stat().st_size} of {total}")


def download(url: str, dest: str | os.PathLike, sha256: str | None = None, retries: int = 3,
             progress: bool = True, timeout: float = 60.0, backoff: float = 1.0) -> Path:
    """Download ``url`` to ``dest`` unless ``dest`` already exists (and matches ``sha256``).

    Returns ``dest``. Raises ``DownloadError`` once ``retries`` further attempts have failed, on
    a non-retryable HTTP error, or on a checksum mismatch (the bad data is deleted).
    """
    dest = Path(dest)
    if dest.exists():
        if sha256 is None or sha256_file(dest) == sha256:
            logger.info("%s already present, skipping download", dest)
            return dest
        logger.warning("%s does not match its sha256; downloading it again", dest)
        dest.unlink()
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    last_error: Exception | None = None
    for attempt in range(retries + 1):
        if attempt:
            delay = backoff * 2 ** (attempt - 1)
            logger.warning("download of %s failed (%s); retry %d/%d in %.1f s", url, last_error,
                           attempt, retries, delay)
            time.sleep(delay)
        try:
            _fetch_into(url, part, timeout, progress)
            break
        except urllib.error.HTTPError as exc:
            last_error = exc
            if exc.code not in _RETRYABLE_HTTP:
                raise DownloadError(f"cannot download {url}: HTTP {exc.code} {exc.reason}") from exc
        except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
            last_error = exc
    else:
        kept = part.is_file() and part.stat().st_size > 0
        raise DownloadError(f"cannot download {url} after {retries + 1} attempts: {last_error}. "
                            + (f"The {part.stat().st_size} bytes received are kept in {part}; "
                               "re-run to resume." if kept else "No data was received."))
    if sha256 is not None:
        actual = sha256_file(part)
        if actual != sha256:
            part.unlink()
            raise DownloadError(f"{url}: sha256 {actual} does not match the expected {sha256}; "
                                "the corrupt download was deleted")
    os.replace(part, dest)
    return dest


@dataclass
class DownloadConfig:
    """``python demo_utils.py URL DEST``: the arguments of :func:`download`, one flag each."""

    url: str = flag(help="http(s) URL to fetch", positional=True)
    dest: str = flag(help="file to write; while downloading, the bytes received are in "
                     "DEST.part, which a re-run resumes", positional=True)
    sha256: str | None = flag(None, "expected sha256 of the whole file")
    retries: int = flag(3, "retries after the first attempt", kind=int)
    timeout: float = flag(60.0, "seconds per network read", kind=float)


def main(argv=None) -> int:
    """``python demo_utils.py URL DEST``: download one file (resumable, verified)."""
    from dialogpt.config import build_parser, parse_config

    config = parse_config(DownloadConfig, build_parser(DownloadConfig, "demo_utils.py", __doc__),
                          argv)
    download(config.url, config.dest, sha256=config.sha256, retries=config.retries,
             timeout=config.timeout)
    return 0
