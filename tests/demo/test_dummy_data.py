"""The dummy dumps are deterministic, well-formed pushshift JSON lines."""

from __future__ import annotations

import orjson
import zstandard

from dialogpt.demo.dummy_data import DummySpec, write_dummy_dumps


def _rows(path):
    reader = zstandard.ZstdDecompressor(max_window_size=2**31)
    return [orjson.loads(line) for line in reader.decompress(path.read_bytes()).splitlines()]


def test_dumps_are_deterministic(tmp_path):
    spec = DummySpec(months=("2011-01",), threads_per_month=20, seed=7)
    first = write_dummy_dumps(tmp_path / "a", spec)
    second = write_dummy_dumps(tmp_path / "b", spec)
    assert [p.name for p in first] == ["RS_2011-01.zst", "RC_2011-01.zst"]
    for a, b in zip(first, second):
        assert _rows(a) == _rows(b)


def test_threads_are_consistent(tmp_path):
    spec = DummySpec(months=("2011-01", "2011-02"), threads_per_month=30)
    paths = write_dummy_dumps(tmp_path, spec)
    submissions = [row for path in paths if path.name.startswith("RS") for row in _rows(path)]
    comments = [row for path in paths if path.name.startswith("RC") for row in _rows(path)]
    sub_ids = {f"t3_{row['id']}" for row in submissions}
    comment_ids = {f"t1_{row['id']}" for row in comments}
    assert len(sub_ids) == len(submissions) == 60, "submission ids must be unique across months"
    assert len(comment_ids) == len(comments)
    for row in comments:
        assert row["link_id"] in sub_ids
        assert row["parent_id"] in sub_ids | comment_ids
    counts = {}
    for row in comments:
        counts[row["link_id"]] = counts.get(row["link_id"], 0) + 1
    assert all(counts[f"t3_{row['id']}"] == row["num_comments"] for row in submissions)


def test_existing_dump_is_kept(tmp_path):
    spec = DummySpec(months=("2011-01",), threads_per_month=5)
    (tmp_path / "RS_2011-01.zst").write_bytes(b"mine")
    write_dummy_dumps(tmp_path, spec)
    assert (tmp_path / "RS_2011-01.zst").read_bytes() == b"mine"
