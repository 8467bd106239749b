"""Damaged dumps: a burst of malformed lines is reported with its byte region (issue 14, item 6).

Flipping one byte inside a ``.zst`` frame written without checksums often decodes without error
into garbage: the damage then shows only as malformed JSON lines, which used to be counted like
the few scattered malformed lines every dump has.
"""

from __future__ import annotations

import json
import logging
import random

import pytest
import zstandard

from dialogpt.extraction.damage import MalformedTracker
from dialogpt.extraction.readers import ReadStats, iter_lines
from dialogpt.extraction.summary import main as summary_main
from dialogpt.extraction.summary import summarise

from .conftest import comment, submission


def _silently_damaged(data: bytes, tmp_path) -> tuple[bytes, int]:
    """``data`` zstd-compressed with one byte flipped where decoding still succeeds but at least
    5 lines come out malformed; also the count of malformed lines (counted here, independently)."""
    compressed = zstandard.ZstdCompressor(level=3, write_checksum=False).compress(data)
    for position in range(len(compressed) // 4, len(compressed) - 64, 101):
        damaged = bytearray(compressed)
        damaged[position] ^= 0x55
        try:
            text = zstandard.ZstdDecompressor().decompressobj().decompress(bytes(damaged))
        except zstandard.ZstdError:
            continue
        bad = 0
        for line in text.split(b"\n"):
            if line.strip():
                try:
                    json.loads(line)
                except ValueError:
                    bad += 1
        if bad >= 5:
            return bytes(damaged), bad
    pytest.skip("no silent single-byte corruption found")


@pytest.fixture
def dumps(tmp_path):
    subs = [submission(f"s{i}") for i in range(40)]
    rng = random.Random(0)  # varied text: repetitive text spreads a flipped byte far and wide
    words = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi pi".split()
    comments = [comment(f"c{i}", f"t3_s{i % 40}", " ".join(rng.choices(words, k=12)),
                        link=f"s{i % 40}") for i in range(6000)]
    folder = tmp_path / "dumps"
    folder.mkdir()
    (folder / "RS_2011-01").write_text("".join(json.dumps(s) + "\n" for s in subs))
    data = "".join(json.dumps(c) + "\n" for c in comments).encode()
    damaged, bad = _silently_damaged(data, tmp_path)
    (folder / "RC_2011-01.zst").write_bytes(damaged)
    (folder / "RS_2011-02").write_text("".join(json.dumps(s) + "\n" for s in subs))
    (folder / "RC_2011-02.zst").write_bytes(zstandard.ZstdCompressor().compress(data))
    return folder, bad


def test_scattered_malformed_lines_are_normal():
    tracker, stats = MalformedTracker(), ReadStats()
    for line in (10, 400, 900, 1500):
        stats.lines = line
        tracker.add(stats)
    assert not tracker.damaged(2000) and tracker.report(2000)["damaged"] is False


def test_burst_of_malformed_lines_names_its_region():
    tracker, stats = MalformedTracker(), ReadStats()
    for line in (3, 500, 501, 503, 510, 530, 531):
        stats.lines, stats.offset, stats.chunk_start, stats.compressed_bytes = line, line * 100, 0, 9
        tracker.add(stats)
    report = tracker.report(10_000)
    assert report["damaged"] is True
    assert report["malformed_region"] == {"first_line": 500, "last_line": 531, "malformed": 6,
                                          "decompressed_byte": 50_000, "compressed_from": 0,
                                          "compressed_to": 9}


def test_silently_damaged_zst_month_is_warned_and_summarised(dumps, tmp_path, caplog, capsys):
    from dialogpt.extraction.extract import extract_month

    folder, bad = dumps
    assert sum(1 for _ in iter_lines(folder / "RC_2011-01.zst")) > 0  # reads without error
    with caplog.at_level(logging.WARNING):
        damaged = extract_month("2011-01", folder, tmp_path / "extract")
        intact = extract_month("2011-02", folder, tmp_path / "extract")
    section = damaged["comments"]
    assert section["skipped"]["malformed_json"] == bad and section["damaged"] is True
    assert section["malformed_region"]["first_line"] >= 1
    assert "RC_2011-01.zst looks damaged" in caplog.text and "within compressed bytes" in caplog.text
    assert f"they start at line {section['malformed_region']['first_line']} " in caplog.text
    assert intact["comments"]["damaged"] is False and "RC_2011-02" not in caplog.text
    reports = [{"month": r["month"], "extract": r,
                "conv": {"instances": 0, "avg_target_tokens": 0.0, "skipped": {}, "seconds": 0}}
               for r in (damaged, intact)]
    assert list(summarise(reports)["damaged_months"]) == ["2011-01"]
    paths = []
    for report in reports:
        path = tmp_path / f"{report['month']}.report.json"
        path.write_text(json.dumps(report))
        paths.append(str(path))
    assert summary_main(paths) == 0
    assert "warning: 2011-01 looks damaged: RC_2011-01.zst" in capsys.readouterr().out
