"""Dump records -> the intermediate TSV rows of the extract step, and back.

The intermediate files keep the original extractor's layout, so either tool's conversation step
can read the other's extract output: per sub-split ``i`` (a new split every ``split_size`` kept
submissions), gzip text ``rs_sub{i}.tsv.gz`` with rows ``id score num_comments domain permalink
title`` and ``rc_sub{i}.tsv.gz`` with rows ``id author parent_id link_id score n_char body``;
every cell is Python's ``str()`` of the JSON value (``None`` for null).

Rows are read back the way the original reads them: the line is ``strip()``-ed, then split on
tabs, and a row with too few cells is ignored (a submission whose title is empty therefore
disappears, which matters when a subreddit blocklist is in use).
"""

from __future__ import annotations

import json
from types import ModuleType
from typing import NamedTuple

from dialogpt.extraction.normalize import minimal_norm

SUBMISSION_FIELDS = ("id", "score", "num_comments", "domain", "permalink", "title")
COMMENT_FIELDS = ("id", "author", "parent_id", "link_id", "score", "n_char", "body")
SUBMISSION_TAG = "t3_"
COMMENT_TAG = "t1_"


class Skip(Exception):
    """A record the extract step drops; ``reason`` is the report counter it goes to."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


_orjson: ModuleType | None = None  # imported on the first parse: the conv step never parses


def _import_orjson() -> ModuleType:
    global _orjson
    import orjson
    _orjson = orjson
    return orjson


def parse_json(line: bytes) -> dict:
    """Parse one dump line; ``orjson`` first, the standard library for what it refuses.

    ``json`` accepts a few things ``orjson`` does not (NaN, integers beyond 64 bits, lone
    surrogate escapes), which real dumps contain now and then.
    """
    orjson = _orjson or _import_orjson()
    try:
        record = orjson.loads(line)
    except orjson.JSONDecodeError:
        try:
            record = json.loads(line)
        except (ValueError, RecursionError):
            raise Skip("malformed_json") from None
    if not isinstance(record, dict):
        raise Skip("malformed_json")
    return record


def _cells(record: dict, fields: tuple[str, ...]) -> list[str]:
    try:
        return [str(record[field]) for field in fields]
    except KeyError:
        raise Skip("missing_field") from None


def _text(record: dict, field: str) -> str:
    try:
        value = record[field]
    except KeyError:
        raise Skip("missing_field") from None
    if not isinstance(value, str):
        raise Skip("bad_field")
    return value


def submission_row(record: dict) -> tuple[str, str]:
    """``(t3_id, TSV row)`` of a submission the extract step keeps, else ``Skip``."""
    try:
        num_comments = int(record["num_comments"])
    except KeyError:
        raise Skip("missing_field") from None
    except (TypeError, ValueError, OverflowError):
        raise Skip("bad_field") from None
    if num_comments < 2:
        raise Skip("few_comments")
    record = dict(record, title=minimal_norm(_text(record, "title")))
    row = "\t".join(_cells(record, SUBMISSION_FIELDS))
    return SUBMISSION_TAG + _text(record, "id"), row


def comment_fields(record: dict) -> tuple[str, str, str]:
    """``(link_id, t1_id, body)`` of a comment, else ``Skip`` (missing or non-text fields)."""
    return _text(record, "link_id"), COMMENT_TAG + _text(record, "id"), _text(record, "body")


def body_skip_reason(body: str) -> str | None:
    """Why a comment body is dropped before its thread is even looked at (None: it is not)."""
    if body == "[deleted]":
        return "deleted"
    if body == "[removed]":
        return "removed"
    if ">" in body or "&gt;" in body:
        return "quote"
    return None


def comment_row(record: dict, body: str) -> str | None:
    """The TSV row of a kept comment, or None when its body has fewer than 2 words."""
    normalised = minimal_norm(body)
    if len(normalised.split()) < 2:
        return None
    record = dict(record, n_char=len(body), body=normalised)
    return "\t".join(_cells(record, COMMENT_FIELDS))


class Submission(NamedTuple):
    domain: str
    permalink: str
    title: str


class Comment(NamedTuple):
    parent_id: str
    link_id: str
    score: str
    body: str


def read_submission_row(line: str) -> tuple[str, Submission] | None:
    cells = line.strip().split("\t")
    if len(cells) < len(SUBMISSION_FIELDS):
        return None
    return SUBMISSION_TAG + cells[0], Submission(cells[3], cells[4], cells[5])


def subreddit_of(submission: Submission | None) -> str:
    """Lower-cased subreddit from a permalink ``/r/NAME/comments/...`` ('' when unknown)."""
    if submission is None:
        return ""
    parts = submission.permalink.split("/")
    return parts[2].lower() if len(parts) > 2 else ""
