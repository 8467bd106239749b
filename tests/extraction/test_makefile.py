"""End to end: reddit_extractor/Makefile with make -j on tiny synthetic dumps."""

from __future__ import annotations

import gzip
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from dialogpt.extraction.synthetic import write_synthetic_month

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="needs GNU make")


def make(repo_root: Path, root: Path, *targets: str, **variables: str
         ) -> subprocess.CompletedProcess:
    settings = {"PYTHON": sys.executable, "S": str(root / "dumps"), "T": str(root / "work"),
                "DATA": str(root / "data"), "HASH_FLAG": "--ignore_keys",
                "TEST_HASH_FLAG": "--ignore_keys", "TRAIN_MONTHS": "2011-01 2011-02 2011-03",
                "TEST_MONTHS": "2018-03", "VALID_FRACTION": "0.3"} | variables
    command = ["make", "-j", "4", *targets, *(f"{key}={value}" for key, value in settings.items())]
    return subprocess.run(command, cwd=repo_root / "reddit_extractor", capture_output=True,
                          text=True, timeout=120)


def month_lines(path: Path) -> list[str]:
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        return handle.read().splitlines()


@pytest.fixture(scope="module")
def built(repo_root, tmp_path_factory):
    root = tmp_path_factory.mktemp("make")
    for seed, (month, compression) in enumerate([("2011-01", "zst"), ("2011-02", "bz2"),
                                                 ("2018-03", "gz")]):
        write_synthetic_month(root / "dumps", month, 80, seed=seed, compression=compression)
    write_synthetic_month(root / "dumps", "2011-03", 0, seed=0, messy=False)  # an empty month
    result = make(repo_root, root, "train", "valid", "test")
    assert result.returncode == 0, result.stdout + result.stderr
    return root


def test_train_and_valid_hold_every_instance_once(built):
    conv = built / "work" / "train" / "conv"
    expected = [line.split("\t", 1)[1] for month in ("2011-01", "2011-02", "2011-03")
                for line in month_lines(conv / f"{month}.tsv.gz")]
    train = (built / "data" / "train.tsv").read_text(encoding="utf-8").splitlines()
    valid = (built / "data" / "valid.tsv").read_text(encoding="utf-8").splitlines()
    assert sorted(train + valid) == sorted(expected) and train and valid
    assert [line for line in expected if line in set(train)] == train  # month order kept
    reports = [json.loads((conv / f"{month}.report.json").read_text())
               for month in ("2011-01", "2011-02", "2011-03")]
    assert sum(report["conv"]["instances"] for report in reports) == len(expected)
    assert reports[2]["conv"]["instances"] == 0
    summary = json.loads((built / "work" / "train" / "summary.json").read_text())
    assert summary["instances"] == len(expected) and summary["months"] == 3


def test_test_side_and_refs(built, repo_root):
    test_lines = month_lines(built / "work" / "test.tsv.gz")
    assert test_lines and all("1.0 " not in line.split("\t")[2][:4] for line in test_lines)
    assert (built / "data" / "test.tsv").read_text(encoding="utf-8").splitlines() == \
        [line.split("\t", 1)[1] for line in test_lines]
    first, second = test_lines[0].split("\t"), test_lines[1].split("\t")
    ids = built / "ids.txt"
    ids.write_text(f"multiref\t5,{first[0]}\t3,{second[0]}\n", encoding="utf-8")
    result = make(repo_root, built, "refs", MULTIREF_IDS=str(ids))
    assert result.returncode == 0, result.stderr
    refs = (built / "data" / "test.refs.txt").read_text(encoding="utf-8").splitlines()
    expected_refs = [first[2]] + ([second[2]] if second[1] == first[1] else [])
    assert refs == ["\t".join([first[1].replace("“", '"').replace("”", '"'), *expected_refs])]


def test_rerun_is_a_no_op(built, repo_root):
    before = (built / "data" / "train.tsv").read_bytes()
    result = make(repo_root, built, "train", "valid")
    assert result.returncode == 0
    assert "dialogpt.extraction" not in result.stdout  # nothing was rebuilt
    assert (built / "data" / "train.tsv").read_bytes() == before


def test_truncated_month_fails_and_leaves_no_output(repo_root, tmp_path):
    write_synthetic_month(tmp_path / "dumps", "2011-01", 40, seed=0)
    month = write_synthetic_month(tmp_path / "dumps", "2011-02", 40, seed=1)
    data = month.rc_path.read_bytes()
    month.rc_path.write_bytes(data[: len(data) // 2])
    result = make(repo_root, tmp_path, "train", "-k", TRAIN_MONTHS="2011-01 2011-02")
    assert result.returncode != 0
    assert "truncated" in result.stderr and str(month.rc_path) in result.stderr
    assert (tmp_path / "work" / "train" / "conv" / "2011-01.tsv.gz").is_file()
    assert not (tmp_path / "work" / "train" / "extract" / "2011-02").exists()
    assert not list((tmp_path / "work" / "train" / "conv").glob("2011-02*"))
    assert not (tmp_path / "data" / "train.tsv").exists()
