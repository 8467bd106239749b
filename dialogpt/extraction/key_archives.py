"""The released key archives: fetch ``keys-SIZE.tar`` and unpack its monthly key files into ``K``.

The original Makefile took ``data/keys-small.tar`` from the DialoGPT repository and downloaded
``keys-full.tar`` from Microsoft's blob storage, then untarred it into the key folder. This does
the same with bounded, resumable downloads (``dialogpt.download``), a sha256 check when one is
given, and a plain message when a source is gone:

- when every month asked for already has its key file in ``K`` nothing is downloaded (local keys
  work offline);
- each mirror URL is tried in turn; when all fail the error names them and the two ways on:
  copy ``YYYY-MM.gz`` / ``YYYY-MM-o.gz`` into ``K`` yourself, or ``HASH_FLAG=--ignore_keys``;
- only members named ``YYYY-MM.gz`` or ``YYYY-MM-o.gz`` are unpacked, by their base name (the
  archive's folder layout does not matter; no member can write outside ``K``).

A stamp file ``K/.keys-SIZE.done`` marks a completed unpack, so ``make`` runs this once.
"""

from __future__ import annotations

import logging
import os
import re
import tarfile
from pathlib import Path

from dialogpt.cli import UserError

logger = logging.getLogger(__name__)

KEY_ARCHIVE_URLS = {
    "small": [("https://raw.githubusercontent.com/microsoft/DialoGPT/master/reddit_extractor/"
               "data/keys-small.tar")],
    "full": ["https://acvrpublicycchen.blob.core.windows.net/dialogpt/keys-full.tar",
             "https://convaisharables.blob.core.windows.net/lsp/keys-full.tar"],
}
"""Where the original Makefile (and its earlier version) fetched each archive."""

KEY_ARCHIVE_SHA256: dict[str, str] = {}
"""Known digests of the archives (none published); ``--sha256`` supplies one."""

_KEY_MEMBER = re.compile(r"\d{4}-\d{2}(-o)?\.gz")


def stamp_path(keys_dir: Path, size: str) -> Path:
    return Path(keys_dir) / f".keys-{size}.done"


def missing_key_files(keys_dir: Path, months: list[str]) -> list[str]:
    """Months of ``months`` whose ``YYYY-MM.gz`` is not in ``keys_dir``."""
    return [month for month in months if not (Path(keys_dir) / f"{month}.gz").is_file()]


def unpack_keys(archive: Path, keys_dir: Path) -> int:
    """Copy every ``YYYY-MM.gz`` / ``YYYY-MM-o.gz`` member of ``archive`` into ``keys_dir``.

    Returns how many were written; each is written atomically under its base name.
    """
    from dialogpt.fileio import atomic_write

    count = 0
    try:
        with tarfile.open(archive) as tar:
            for member in tar:
                name = os.path.basename(member.name)
                if not member.isfile() or not _KEY_MEMBER.fullmatch(name):
                    continue
                source = tar.extractfile(member)
                with atomic_write(Path(keys_dir) / name, "wb") as out:
                    while chunk := source.read(1 << 20):
                        out.write(chunk)
                count += 1
    except (tarfile.TarError, EOFError) as exc:
        raise UserError(f"key archive {archive} is not a readable tar file ({exc}); delete it "
                        "and run again to download it anew") from exc
    if not count:
        raise UserError(f"key archive {archive} holds no YYYY-MM.gz key files")
    return count


def _gone_message(size: str, urls: list[str], errors: list[str], keys_dir: Path) -> str:
    tried = "; ".join(f"{url}: {error}" for url, error in zip(urls, errors))
    return (f"cannot get the {size} key archive: every source failed ({tried}). The source may "
            f"be gone (they are the original DialoGPT release's) or there is no network. Either "
            f"copy the key files (YYYY-MM.gz and YYYY-MM-o.gz) into {keys_dir} (make K=DIR to use "
            f"another folder), pass a mirror with KEYS_URL=URL (or --url), or extract without "
            f"keys: make HASH_FLAG=--ignore_keys (new data; the output then differs from the "
            f"original data set)")


def fetch_keys(size: str, keys_dir: Path, months: list[str] | None = None,
               urls: list[str] | None = None, archive_dir: Path | None = None,
               sha256: str | None = None, retries: int = 3, progress: bool = True) -> Path:
    """Make sure ``keys_dir`` holds the key files of ``months``; returns the stamp file.

    Downloads ``keys-SIZE.tar`` (first working URL of ``urls``) into ``archive_dir`` (default:
    ``keys_dir``'s parent) only when a month's key file is missing, then unpacks it.
    """
    from dialogpt.download import DownloadError, download
    from dialogpt.fileio import atomic_write

    keys_dir = Path(keys_dir)
    keys_dir.mkdir(parents=True, exist_ok=True)
    stamp = stamp_path(keys_dir, size)
    missing = missing_key_files(keys_dir, months or [])
    if months and not missing:
        logger.info("key files of all %d months are in %s; nothing to download", len(months),
                    keys_dir)
    else:
        urls = list(urls or KEY_ARCHIVE_URLS.get(size, []))
        if not urls:
            raise UserError(f"no known source for the {size!r} key archive; pass --url")
        archive = Path(archive_dir or keys_dir.parent) / f"keys-{size}.tar"
        errors: list[str] = []
        for url in urls:
            try:
                download(url, archive, sha256=sha256 or KEY_ARCHIVE_SHA256.get(size),
                         retries=retries, progress=progress)
                break
            except DownloadError as exc:
                errors.append(str(exc).removeprefix(f"cannot download {url}").strip(" :"))
                logger.warning("key archive source %s failed: %s", url, exc)
        else:
            raise UserError(_gone_message(size, urls, errors, keys_dir))
        logger.info("unpacked %d key files from %s into %s", unpack_keys(archive, keys_dir),
                    archive, keys_dir)
        still = missing_key_files(keys_dir, months or [])
        if still:
            raise UserError(f"key archive {archive} has no key file for {len(still)} month(s) "
                            f"({', '.join(still[:3])}{'...' if len(still) > 3 else ''}); check "
                            "TRAIN_MONTHS, or use HASH_FLAG=--ignore_keys for months it lacks")
    with atomic_write(stamp, "w") as out:
        out.write(f"{size}\n")
    return stamp
