"""Extract-step rules and bad input, one hand-worked case each."""

from __future__ import annotations

import gzip

import pytest

from dialogpt.extraction.extract import main as extract_main

from .conftest import comment, submission


def rows(path) -> list[str]:
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        return handle.read().splitlines()


SUBMISSIONS = [
    submission("s1"),
    submission("few", num_comments=1),            # fewer than 2 comments
    submission("str", num_comments="3"),          # a string count is still a number
    {k: v for k, v in submission("nocount").items() if k != "num_comments"},
    submission("null", num_comments=None),
    '{"id": "broken", ',
]
COMMENTS = [
    comment("k1", "t3_s1", "[deleted]"),
    comment("k2", "t3_s1", "[removed]"),
    comment("k3", "t3_s1", "> quote here"),
    comment("k4", "t3_s1", "a &gt; b"),
    comment("k5", "t3_few", "normal words here", link="few"),  # its submission was dropped
    comment("k6", "t3_s1", "single"),
    comment("k7", "t3_s1", "two\\nwords"),      # a literal backslash-n: "twonwords", one word
    comment("k8", "t3_s1", "line\nbreak"),      # a real newline becomes a space
    {k: v for k, v in comment("k9", "t3_s1", "no body").items() if k != "body"},
    comment("k10", "t3_s1", None),
    comment("k11", "t3_str", "score as text", link="str", score="5", created_utc="1300000000"),
    comment("k12", "t3_s1", "Ünïcödé ✓ text", score=None),
    "not json at all",
]


def test_extract_rules_and_rows(month_runner):
    month_runner.write(SUBMISSIONS, COMMENTS)
    report = month_runner.extract()
    month_dir = month_runner.root / "extract" / month_runner.month
    assert [row.split("\t")[0] for row in rows(month_dir / "rs_sub0.tsv.gz")] == ["s1", "str"]
    assert rows(month_dir / "rc_sub0.tsv.gz") == [
        "k8\tsomeone\tt3_s1\tt3_s1\t1\t10\tline break",
        "k11\tsomeone\tt3_str\tt3_str\t5\t13\tscore as text",
        "k12\tsomeone\tt3_s1\tt3_s1\tNone\t14\tÜnïcödé ✓ text",
    ]
    assert report["submissions"]["skipped"] == {"few_comments": 1, "missing_field": 1,
                                                "bad_field": 1, "malformed_json": 1}
    assert report["comments"]["skipped"] == {
        "deleted": 1, "removed": 1, "quote": 2, "orphan_link_id": 1, "too_short": 2,
        "missing_field": 1, "bad_field": 1, "malformed_json": 1}
    assert report["comments"]["kept"] == 3 and report["comments"]["lines"] == len(COMMENTS)


def test_dep_keys_select_comments(month_runner):
    month_runner.write(SUBMISSIONS, COMMENTS)
    report = month_runner.extract(dep_keys={"t3_s1\tt1_k8"})
    assert report["comments"]["kept"] == 1
    # Every comment but k8 and the two without a text body (k9, k10, counted as such).
    assert report["comments"]["skipped"]["not_in_keys"] == 9


def test_non_ascii_and_duplicates_in_conversations(month_runner):
    lines, report = month_runner.run([submission("s1")], [
        comment("a", "t3_s1", "Ünïcödé ✓ text here"),
        comment("b", "a", "nice reply here"),
        comment("b", "a", "nice reply here"),   # the same line twice
    ])
    assert lines == ["t3_s1,t1_a,t1_b\t1.0 n c d text here\t1.0 nice reply here"]
    assert report["conv"]["skipped"]["duplicate_comment"] == 1


def test_sub_splits_set_the_output_order(month_runner):
    # With one submission per split, the thread of the first submission in the dump comes
    # first, although its id sorts last.
    month_runner.write([submission("sb"), submission("sa")], [
        comment("a1", "t3_sa", "first thread here", link="sa"),
        comment("a2", "a1", "reply in first", link="sa"),
        comment("b1", "t3_sb", "second thread here", link="sb"),
        comment("b2", "b1", "reply in second", link="sb"),
    ])
    assert month_runner.extract(split_size=1)["splits"] == 2
    lines, _ = month_runner.conv()
    assert [line.split("\t")[0] for line in lines] == ["t3_sb,t1_b1,t1_b2", "t3_sa,t1_a1,t1_a2"]


@pytest.mark.parametrize("compression", ["zst", "bz2"])
def test_truncated_dump_is_a_clear_error_and_leaves_no_month(tmp_path, compression, capsys):
    from dialogpt.cli import run_main
    from dialogpt.extraction.synthetic import write_synthetic_month
    month = write_synthetic_month(tmp_path / "dumps", "2011-01", 300, seed=0,
                                  compression=compression)
    data = month.rc_path.read_bytes()
    month.rc_path.write_bytes(data[: len(data) // 2])
    code = run_main(extract_main, ["2011-01", "--dumps", str(tmp_path / "dumps"),
                                   "--out", str(tmp_path / "extract")])
    message = capsys.readouterr().err
    assert code == 2
    assert str(month.rc_path) in message and "truncated" in message
    assert f"byte {len(data) // 2}" in message
    assert not (tmp_path / "extract" / "2011-01").exists()


def test_missing_dump_names_what_to_do(tmp_path, capsys):
    from dialogpt.cli import run_main
    code = run_main(extract_main, ["2011-01", "--dumps", str(tmp_path), "--out", str(tmp_path)])
    assert code == 2 and "RS_2011-01" in capsys.readouterr().err


def test_parallel_workers_give_the_same_output(month_runner, monkeypatch):
    from dialogpt.extraction import conv
    from dialogpt.extraction.synthetic import write_synthetic_month
    from dialogpt.extraction.instances import ConvFilters, ConvOptions
    write_synthetic_month(month_runner.root / "dumps", month_runner.month, 150, seed=2,
                          compression="")
    month_runner.extract()
    serial, serial_report = month_runner.conv()
    monkeypatch.setattr(conv, "PARALLEL_MIN_IDS", 0)
    report = conv.convert_month(month_runner.month, month_runner.root / "extract",
                                month_runner.root / "conv", ConvOptions(), ConvFilters(),
                                workers=3)
    with gzip.open(month_runner.root / "conv" / f"{month_runner.month}.tsv.gz", "rt") as handle:
        parallel = handle.read().splitlines()
    assert parallel == serial and serial
    assert report["conv"]["skipped"] == serial_report["conv"]["skipped"]
