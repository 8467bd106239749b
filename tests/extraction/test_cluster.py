"""EXECUTOR=ray: the months as Ray tasks on a real two-node Ray cluster on 127.0.0.1.

The reference is the Makefile's own path (``make -j 2``) on the same dumps: every final file must
be byte-identical, with keys and with ``--ignore_keys``, on the train and the test side.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from dialogpt.extraction.cluster import main as cluster_main
from dialogpt.extraction.synthetic import write_synthetic_keys, write_synthetic_month

from .test_makefile import make, month_lines

ray = pytest.importorskip("ray", reason="the cluster extra is not installed (pip install -e .[cluster])")
pytestmark = [pytest.mark.slow, pytest.mark.multiproc,
              pytest.mark.skipif(shutil.which("make") is None, reason="needs GNU make")]

TRAIN = ("2011-01", "2011-02", "2011-03")
KILLED = "2011-04"


@pytest.fixture(scope="module")
def cluster():
    """A head node and a worker node (two raylets), one CPU each, so months must spread."""
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1,
                                                            "include_dashboard": False})
    cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    yield cluster
    cluster.shutdown()


@pytest.fixture(scope="module")
def dumps(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("dumps")
    for seed, month in enumerate(TRAIN):
        write_synthetic_month(root / "dumps", month, 60, seed=seed,
                              compression=("zst", "bz2", "gz")[seed])
        write_synthetic_keys(root / "keys", month, root / "dumps", seed=seed)
    write_synthetic_month(root / "dumps", "2018-03", 60, seed=7, compression="gz")
    write_synthetic_month(root / "dumps", KILLED, 40, seed=9)
    return root


def run_cluster(cluster, dumps: Path, work: Path, side: str, months, *flags: str) -> None:
    assert cluster_main([side, "--months", " ".join(months), "--dumps", str(dumps / "dumps"),
                         "--keys", str(dumps / "keys"), "--work", str(work / "work"),
                         "--data", str(work / "data"), "--ray_address", cluster.address,
                         "--bl_words", "", "--bl_subreddits", "", *flags]) == 0


def make_reference(repo_root: Path, dumps: Path, work: Path, *targets: str, **variables) -> None:
    work.mkdir(parents=True)
    for name in ("dumps", "keys"):
        (work / name).symlink_to(dumps / name)
    result = make(repo_root, work, *targets, K=str(work / "keys"), VALID_FRACTION="0.2",
                  TRAIN_MONTHS=" ".join(TRAIN), WORDS_BLOCKLIST="", SUBREDDITS_BLOCKLIST="",
                  **variables)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("keys", ["with_keys", "ignore_keys"])
def test_train_side_equals_make(cluster, dumps, repo_root, tmp_path, keys):
    hash_flag = "--ignore_keys" if keys == "ignore_keys" else ""
    make_reference(repo_root, dumps, tmp_path / "make", "train", "valid", HASH_FLAG=hash_flag)
    run_cluster(cluster, dumps, tmp_path / "ray", "train", TRAIN, "--valid_fraction", "0.2",
                *([hash_flag] if hash_flag else []))
    for name in ("train.tsv", "valid.tsv"):
        expected = (tmp_path / "make" / "data" / name).read_bytes()
        assert expected and (tmp_path / "ray" / "data" / name).read_bytes() == expected
    run = json.loads((tmp_path / "ray" / "work" / "train" / "cluster_run.json").read_text())
    assert len({row["node_id"] for row in run["placements"]}) == 2  # both raylets got months
    assert [row["month"] for row in run["placements"]] == list(TRAIN) and not run["failures"]
    summary = json.loads((tmp_path / "ray" / "work" / "train" / "summary.json").read_text())
    assert summary == json.loads((tmp_path / "make" / "work" / "train" / "summary.json")
                                 .read_text())


def test_test_side_and_refs_equal_make(cluster, dumps, repo_root, tmp_path):
    make_reference(repo_root, dumps, tmp_path / "make", "test", TEST_HASH_FLAG="--ignore_keys")
    lines = month_lines(tmp_path / "make" / "work" / "test.tsv.gz")
    first, second = lines[0].split("\t"), lines[1].split("\t")
    ids = tmp_path / "ids.txt"
    ids.write_text(f"multiref\t5,{first[0]}\t3,{second[0]}\n", encoding="utf-8")
    result = make(repo_root, tmp_path / "make", "refs", MULTIREF_IDS=str(ids))
    assert result.returncode == 0, result.stderr
    run_cluster(cluster, dumps, tmp_path / "ray", "refs", ["2018-03"], "--test_ignore_keys",
                "--multiref_ids", str(ids))
    run_cluster(cluster, dumps, tmp_path / "ray", "test", ["2018-03"], "--test_ignore_keys")
    for name in ("test.tsv", "test.refs.txt", "test.scored_refs.txt"):
        expected = (tmp_path / "make" / "data" / name).read_bytes()
        assert expected and (tmp_path / "ray" / "data" / name).read_bytes() == expected


def test_rerun_skips_done_months_and_redoes_changed_ones(cluster, dumps, tmp_path, caplog):
    run_cluster(cluster, dumps, tmp_path, "train", TRAIN[:2], "--ignore_keys")
    before = (tmp_path / "data" / "train.tsv").read_bytes()
    run_cluster(cluster, dumps, tmp_path, "train", TRAIN[:2], "--ignore_keys")
    run = json.loads((tmp_path / "work" / "train" / "cluster_run.json").read_text())
    assert run["placements"] == []  # nothing ran again
    assert (tmp_path / "data" / "train.tsv").read_bytes() == before
    run_cluster(cluster, dumps, tmp_path, "train", TRAIN[:2], "--ignore_keys", "--min_score", "2")
    run = json.loads((tmp_path / "work" / "train" / "cluster_run.json").read_text())
    assert [row["month"] for row in run["placements"]] == list(TRAIN[:2])  # the rules changed


def test_a_killed_worker_is_retried_with_the_same_outputs(cluster, dumps, tmp_path):
    from ray_kill import ray_with_kill_once

    # the first task of month KILLED dies between extracting and converting (mid-month), making
    # the marker; its outputs so far stay behind for the retry
    marker = tmp_path / "killed-once"
    with ray_with_kill_once(cluster.address, "dialogpt.extraction.conv", "convert_month",
                            lambda month, *_: month == KILLED, marker):
        run_cluster(cluster, dumps, tmp_path / "killed", "train", [KILLED], "--ignore_keys")
    assert marker.exists()  # the first attempt did die mid-month
    killed_lines = (tmp_path / "killed" / "data" / "train.tsv").read_bytes()
    run_cluster(cluster, dumps, tmp_path / "clean", "train", [KILLED], "--ignore_keys")
    assert (tmp_path / "clean" / "data" / "train.tsv").read_bytes() == killed_lines
    assert killed_lines


def test_a_data_fault_fails_the_run_naming_the_month_and_keeps_the_others(cluster, dumps,
                                                                          tmp_path):
    from dialogpt.cli import UserError

    broken = tmp_path / "dumps"
    shutil.copytree(dumps / "dumps", broken)
    rc = next(broken.glob("RC_2011-02.*"))
    rc.write_bytes(rc.read_bytes()[: rc.stat().st_size // 2])
    with pytest.raises(UserError, match=r"2011-02: .*truncated"):
        cluster_main(["train", "--months", "2011-01 2011-02", "--dumps", str(broken),
                      "--work", str(tmp_path / "work"), "--data", str(tmp_path / "data"),
                      "--ignore_keys", "--ray_address", cluster.address, "--bl_words", "",
                      "--bl_subreddits", ""])
    assert (tmp_path / "work" / "train" / "conv" / "2011-01.tsv.gz").is_file()
    assert not list((tmp_path / "work" / "train" / "conv").glob("2011-02*"))
    assert not (tmp_path / "data" / "train.tsv").exists()
