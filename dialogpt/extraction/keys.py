"""Key files and discard hashes.

Key files (``K/YYYY-MM.gz``, ``keys-test.gz``) are gzip text with lines
``link_id<TAB>t1_<comment id><TAB>dep|keep``. The extract step keeps a comment only if its
``dep`` line exists; the conversation step accepts a target only if its ``keep`` line exists.
Lines are compared after ``rstrip()``, as the original does, so anything after the tag makes
a line match nothing.

Discard-hash files (``K/YYYY-MM-o.gz``) hold one sha224 hex digest per line of a normalised turn
that must get weight 0.0.

The words and subreddits blocklists are read by ``dialogpt.blocklist``.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from dialogpt.cli import UserError
from dialogpt.extraction.readers import GZIP_ERRORS, gunzip


def _read_key_lines(path: str | Path) -> list[str]:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"key file {path} not found; pass --ignore_keys (HASH_FLAG=--ignore_keys) "
                        "to extract new data without key files")
    try:
        text = gunzip(path.read_bytes()).decode("utf-8")  # one month: tens of MB
    except (*GZIP_ERRORS, UnicodeDecodeError) as exc:
        raise UserError(f"key file {path} is not readable gzip text ({exc})") from exc
    return list(map(str.rstrip, text.split("\n")))  # rstrip() returns an unchanged line as is


def load_pair_keys(path: str | Path, tag: str) -> set[str]:
    """``link_id<TAB>comment_id`` of every line of ``path`` tagged ``tag`` (``dep`` or ``keep``)."""
    suffix = "\t" + tag
    return {line[:-len(suffix)] for line in _read_key_lines(path) if line.endswith(suffix)}


class TaggedKeys:
    """What :func:`load_pair_keys` gives, ``pair in keys`` alike, kept as the file's own lines:
    ``pair in keys`` is ``pair + "\\t" + tag in keys.lines``. No key string is copied out of its
    line (half the loading time of a month's key file); hot loops test ``lines`` directly."""

    def __init__(self, lines: set[str], tag: str):
        self.lines, self.suffix = lines, "\t" + tag

    def __contains__(self, pair: object) -> bool:
        return isinstance(pair, str) and pair + self.suffix in self.lines


def load_tagged_keys(path: str | Path, tag: str) -> TaggedKeys:
    """The lines of ``path`` tagged ``tag`` as a :class:`TaggedKeys` (same pairs as
    :func:`load_pair_keys`)."""
    return TaggedKeys(set(_read_key_lines(path)), tag)


def load_discard_hashes(path: str | Path) -> set[str]:
    """The sha224 digests of turns that get weight 0.0."""
    return {line for line in _read_key_lines(path) if line and not line.endswith("\tdep")}


def turn_digest(turn: str) -> str:
    return hashlib.sha224(turn.encode("utf-8")).hexdigest()
