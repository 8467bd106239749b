"""The multi-reference builder and the final merge with its validation split."""

from __future__ import annotations

import gzip

from dialogpt.extraction.merge import in_valid_split, merge
from dialogpt.extraction.multiref import build_multiref, strip_scores

from .conftest import write_gzip_lines

DATA = [
    "t3_a,t1_p,t1_r1\tsay “hi” EOS yo\tfirst ref",
    "t3_a,t1_p,t1_r2\tsay “hi” EOS yo\tsecond ref",
    "t3_a,t1_q,t1_r3\tanother context\tthird ref",
]


def test_multiref_hand_worked(tmp_path):
    data = write_gzip_lines(tmp_path / "test.tsv.gz", DATA)
    ids = tmp_path / "ids.txt"
    ids.write_text(
        "multiref\t12,t3_a,t1_p,t1_r1\t7,t3_a,t1_p,t1_r2\t5,t3_a,t1_p,t1_gone\t3,t3_a,t1_q,t1_r3\n"
        "multiref\t9,t3_a,t1_p,t1_gone\t8,t3_a,t1_p,t1_r1\n"
        "multiref\t4,t3_a,t1_q,t1_r3\n", encoding="utf-8")
    counts = build_multiref(data, ids, tmp_path / "refs.txt", tmp_path / "scored.txt")
    assert (tmp_path / "scored.txt").read_text(encoding="utf-8").splitlines() == [
        'say "hi" EOS yo\t12|first ref\t7|second ref',
        "another context\t4|third ref",
    ]
    assert (tmp_path / "refs.txt").read_text(encoding="utf-8").splitlines() == [
        'say "hi" EOS yo\tfirst ref\tsecond ref',
        "another context\tthird ref",
    ]
    assert counts["first_ref_missing"] == 1 and counts["ref_missing"] == 1
    assert counts["ref_context_mismatch"] == 1


def test_strip_scores_like_sed():
    assert strip_scores("src\t12|a\t-3|b 45|") == "src\ta\t-b "


def test_released_ids_file_format(shared_dir):
    ids = shared_dir / "reddit-ids" / "test-multi-refs-ids.txt"
    if not ids.is_file():
        import pytest
        pytest.skip("released id files are absent")
    lines = ids.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 6000
    counts = [len(line.split("\t")) - 1 for line in lines]
    assert all(line.startswith("multiref\t") for line in lines)
    assert min(counts) == 5 and max(counts) == 29


def test_merge_drops_ids_and_splits_whole_threads(tmp_path):
    month1 = write_gzip_lines(tmp_path / "m1.tsv.gz", [f"t3_{i},t1_p,t1_c{i}\tsrc {i}\ttgt {i}"
                                                       for i in range(300)])
    month2 = write_gzip_lines(tmp_path / "m2.tsv.gz", [f"t3_{i},t1_q,t1_d{i}\tsrc2 {i}\ttgt2 {i}"
                                                       for i in range(300)])
    counts = merge([month1, month2], tmp_path / "train.tsv", tmp_path / "valid.tsv", 0.2,
                   with_ids=tmp_path / "all.tsv.gz")
    train = (tmp_path / "train.tsv").read_text(encoding="utf-8").splitlines()
    valid = (tmp_path / "valid.tsv").read_text(encoding="utf-8").splitlines()
    assert counts == {"train": len(train), "valid": len(valid), "with_ids": 600}
    valid_threads = {line.split()[1] for line in valid}
    train_threads = {line.split()[1] for line in train}
    assert not valid_threads & train_threads
    assert 60 < len(valid) < 180  # 20% of 600 lines, in pairs of one thread
    assert all(in_valid_split(f"t3_{i}", 0.2) == (str(i) in valid_threads) for i in range(300))
    assert train[0] == "src 0\ttgt 0" or valid[0] == "src 0\ttgt 0"
    with gzip.open(tmp_path / "all.tsv.gz", "rt", encoding="utf-8") as handle:
        assert handle.read().splitlines()[0] == "t3_0,t1_p,t1_c0\tsrc 0\ttgt 0"


def test_merge_without_valid_fraction_is_cut_f_2_3(tmp_path):
    month = write_gzip_lines(tmp_path / "m.tsv.gz", ["t3_a,t1_b,t1_c\tx EOS y\tz"])
    merge([month], tmp_path / "train.tsv", tmp_path / "valid.tsv", 0.0)
    assert (tmp_path / "train.tsv").read_text(encoding="utf-8") == "x EOS y\tz\n"
    assert (tmp_path / "valid.tsv").read_text(encoding="utf-8") == ""
