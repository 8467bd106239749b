"""Helpers for the extraction tests: hand-written dumps and running one month end to end."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from dialogpt.extraction.conv import convert_month
from dialogpt.extraction.extract import extract_month
from dialogpt.extraction.instances import ConvFilters, ConvOptions


def write_dump(path: Path, records: list) -> Path:
    """A plain dump: dicts become JSON lines, strings are written as they are."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [record if isinstance(record, str) else json.dumps(record) for record in records]
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def write_gzip_lines(path: Path, lines: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.write("".join(line + "\n" for line in lines))
    return path


def submission(sid: str, num_comments=5, subreddit="pics", title="A title", **extra) -> dict:
    record = {"id": sid, "score": 10, "num_comments": num_comments, "domain": "self.x",
              "permalink": f"/r/{subreddit}/comments/{sid}/slug/", "title": title,
              "created_utc": 1_300_000_000}
    record.update(extra)
    return record


def comment(cid: str, parent: str, body: str, link: str = "s1", score=1, **extra) -> dict:
    record = {"id": cid, "author": "someone", "link_id": "t3_" + link,
              "parent_id": parent if parent[:3] in ("t1_", "t3_") else "t1_" + parent,
              "score": score, "body": body, "created_utc": 1_300_000_000}
    record.update(extra)
    return record


class MonthRunner:
    """Writes a month's dumps under ``tmp_path`` and runs extract + conv on it."""

    month = "2011-01"

    def __init__(self, tmp_path: Path):
        self.root = tmp_path

    def write(self, submissions: list, comments: list) -> None:
        write_dump(self.root / "dumps" / f"RS_{self.month}", submissions)
        write_dump(self.root / "dumps" / f"RC_{self.month}", comments)

    def extract(self, dep_keys=None, split_size=500_000) -> dict:
        return extract_month(self.month, self.root / "dumps", self.root / "extract", dep_keys,
                             split_size)

    def conv(self, options=ConvOptions(), filters=ConvFilters()) -> tuple[list[str], dict]:
        report = convert_month(self.month, self.root / "extract", self.root / "conv", options,
                               filters)
        with gzip.open(self.root / "conv" / f"{self.month}.tsv.gz", "rt", encoding="utf-8") as f:
            lines = f.read().splitlines()
        return lines, report

    def run(self, submissions, comments, options=ConvOptions(), filters=ConvFilters(),
            dep_keys=None):
        self.write(submissions, comments)
        self.extract(dep_keys)
        return self.conv(options, filters)


@pytest.fixture
def month_runner(tmp_path) -> MonthRunner:
    return MonthRunner(tmp_path)
