"""``prepro.py --executor ray``: pure parts (ranges, chunks, shard boundaries) against hand-worked
cases and against ``ShardWriter`` itself; then, on a real two-raylet Ray cluster on 127.0.0.1,
the DB equals the local build's file by file (sha256), training reads it, a killed worker is
retried, and a bad line under ``--strict`` names its global line."""

from __future__ import annotations

import hashlib
import io
import json
import random
import sys
from pathlib import Path

import numpy as np
import pytest

from dialogpt.cli import UserError
from dialogpt.data import prepro_cluster as pc
from dialogpt.data.db import EncodedFeatures, ShardWriter, TokenDB
from dialogpt.data.lines import read_raw_lines
from dialogpt.data.prepro import main as prepro_main

TIMING = ("seconds", "lines_per_second", "db")


# --- pure parts ------------------------------------------------------------------------------

def test_ranges_end_at_line_ends_with_crlf_and_no_final_newline(tmp_path):
    path = tmp_path / "c.tsv"
    path.write_bytes(b"ab\r\ncd\n\nxyz")  # 11 bytes; the last line has no newline
    # range_bytes 2: from byte 2 the next line starts at 4; from 6 at 7; from 9 none: the end
    assert pc.split_ranges(path, 2) == [(0, 4), (4, 7), (7, 11)]
    assert [pc.count_lines(path, *r) for r in pc.split_ranges(path, 2)] == [1, 1, 2]
    assert pc.split_ranges(path, 4) == [(0, 4), (4, 8), (8, 11)]  # bytes 3, 7 are newlines
    assert pc.split_ranges(path, 100) == [(0, 11)]
    path.write_bytes(b"")
    assert pc.split_ranges(path, 2) == []


@pytest.mark.parametrize("range_bytes", [1, 3, 7, 50, 10_000])
def test_ranges_cover_the_file_and_hold_its_lines(tmp_path, range_bytes):
    rng = random.Random(range_bytes)
    lines = [b"x" * rng.randint(0, 20) + rng.choice([b"\n", b"\r\n"]) for _ in range(60)]
    data = b"".join(lines) + b"tail without newline"
    path = tmp_path / "c.tsv"
    path.write_bytes(data)
    ranges = pc.split_ranges(path, range_bytes)
    assert ranges[0][0] == 0 and ranges[-1][1] == len(data)
    assert all(a < b for a, b in ranges) and all(b == c for (_, b), (c, _) in zip(ranges,
                                                                                 ranges[1:]))
    assert all(data[end - 1:end] == b"\n" for _, end in ranges[:-1])
    per_range = [list(read_raw_lines(io.BytesIO(data[a:b]))) for a, b in ranges]
    assert [line for part in per_range for line in part] == lines + [b"tail without newline"]
    assert [pc.count_lines(path, a, b) for a, b in ranges] == [len(p) for p in per_range]


def test_chunks_are_cut_where_the_local_path_cuts_them():
    data = b"".join(b"line %d\n" % n for n in range(5, 11))  # global lines 5..10
    chunks = list(pc.aligned_chunks(io.BytesIO(data), first_line=5, chunk_lines=3))
    # local chunks start at lines 1, 4, 7, 10
    assert [(first, len(lines)) for first, lines in chunks] == [(5, 2), (7, 3), (10, 1)]
    assert chunks[1][1][0] == b"line 7\n"


def test_shard_ends_by_hand():
    # shard_tokens 10: 5 tokens (< 10), an empty chunk, 11 (>= 10): end after 3 examples;
    # then 1 token, the rest: a last shard of 3
    assert pc.shard_ends([(2, 5, 0), (0, 0, 0), (1, 6, 0), (3, 1, 0)], 10) == [3, 6]
    assert pc.shard_ends([(1, 2, 12)], 10) == [1]  # seq2seq: targets count too
    assert pc.shard_ends([], 10) == [] and pc.shard_ends([(0, 0, 0)], 10) == []
    assert pc.merge_chunk_rows([(0, 1, 2, 0), (1, 2, 3, 0), (1, 1, 1, 0), (3, 4, 4, 0)]) == \
        [(1, 2, 0), (3, 4, 0), (4, 4, 0)]
    # ranges of 3, 0 and 4 examples; shards end at 2, 6, 7
    assert pc.shard_pieces([3, 0, 4], [2, 6, 7]) == [[(0, 0, 2)], [(0, 2, 3), (2, 0, 3)],
                                                     [(2, 3, 4)]]


def _random_chunk(rng: random.Random, n: int) -> EncodedFeatures:
    lengths = [rng.randint(2, 9) for _ in range(n)]
    irregular = sorted(rng.sample(range(n), k=rng.randint(0, n)))
    counts = [rng.randint(1, 2) for _ in irregular]
    return EncodedFeatures(
        tokens=np.asarray([rng.randrange(50257) for _ in range(sum(lengths))], dtype=np.uint16),
        lengths=np.asarray(lengths, dtype=np.uint8),
        label_start=np.asarray([rng.randint(0, length - 1) for length in lengths], np.uint8),
        exc_local=np.asarray(irregular, dtype=np.int64),
        exc_span_count=np.asarray(counts, dtype=np.uint16),
        exc_spans=np.asarray([(0, 1)] * sum(counts), dtype=np.uint16).reshape(-1, 2),
        exc_weights=np.asarray([rng.random() for _ in range(sum(counts))], dtype=np.float64))


def _files(directory: Path) -> dict[str, str]:
    return {path.name: hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(directory.iterdir()) if path.name.endswith(".bin")}


@pytest.mark.parametrize("seed", range(4))
def test_shards_written_from_range_slices_equal_shard_writer(tmp_path, seed):
    """Chunks through ShardWriter vs. the same chunks grouped into 'ranges', cut by
    shard_ends/shard_pieces and written shard by shard with write_shard: same files."""
    rng = random.Random(seed)
    chunks = [_random_chunk(rng, rng.choice([0, 1, 3, 8])) for _ in range(25)]
    shard_tokens = rng.choice([5, 20, 60, 1000])
    (tmp_path / "one").mkdir()
    writer = ShardWriter(tmp_path / "one", "uint16", "uint8", shard_tokens)
    for chunk in chunks:
        writer.add(chunk)
    expected = writer.close_shards()
    ends = pc.shard_ends([(c.n_examples, len(c.tokens), 0) for c in chunks], shard_tokens)
    assert np.diff([0, *ends]).tolist() == [shard["n_examples"] for shard in expected]
    cuts = sorted({0, len(chunks), *rng.sample(range(1, len(chunks)), 4)})
    parts = tmp_path / "many" / pc.PARTS
    parts.mkdir(parents=True)
    for index, (a, b) in enumerate(zip(cuts, cuts[1:])):
        pc.save_part(parts, index, pc.concat_encoded(chunks[a:b]))
    examples = [sum(c.n_examples for c in chunks[a:b]) for a, b in zip(cuts, cuts[1:])]
    shards = [pc.write_shard(str(tmp_path / "many"), number, pieces, str(parts), "causal",
                             "uint16", "uint8")
              for number, pieces in enumerate(pc.shard_pieces(examples, ends))]
    assert shards == expected and _files(tmp_path / "many") == _files(tmp_path / "one")


def test_summaries_of_ranges_add_up_to_the_whole(tmp_path):
    from dialogpt.data.prepro_summary import PreproSummary

    whole, first, second = PreproSummary(), PreproSummary(), PreproSummary()
    for line in range(1, 16):
        for summary in (whole, first if line <= 8 else second):
            summary.skipped.add(line, "no_tab")
            summary.lines_read += 1
            summary.window.windows_cut += 1
    total = PreproSummary()
    pc.merge_summary(total, first)
    pc.merge_summary(total, second)
    assert total == whole
    assert total.skipped.reasons["no_tab"] == {"count": 15, "first_lines": list(range(1, 11))}


def test_executor_ray_without_ray_fails_at_once_with_the_install_command(monkeypatch,
                                                                         tmp_path):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    with pytest.raises(UserError, match=r'pip install -e "\.\[cluster\]"'):
        prepro_main(["--corpus", str(tmp_path / "absent.tsv"), "--executor", "ray"])


# --- a two-raylet Ray cluster on 127.0.0.1 ---------------------------------------------------

KILLED = "killed.tsv"


@pytest.fixture(scope="module")
def cluster():
    """A head node and a worker node (two raylets), one CPU each, so ranges must spread."""
    pytest.importorskip("ray", reason="the cluster extra is not installed "
                        "(pip install -e .[cluster])")
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1,
                                                            "include_dashboard": False})
    cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    yield cluster
    cluster.shutdown()


def _corpus(path: Path, n_lines: int, seed: int, bad: tuple[int, ...] = ()) -> Path:
    """Extractor-shaped lines (benchmarks/corpora.py) with malformed lines planted (at 11, 778,
    the middle, 3 before the end; or at ``bad``), CRLF on some, no final newline."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
    try:
        import corpora
    finally:
        sys.path.pop(0)
    corpora.write_tsv(path, n_lines, seed=seed, vocabulary="small")
    lines = path.read_bytes().split(b"\n")[:-1]
    planted = ([(number, b"no tab here") for number in bad] or
               [(11, b"no tab here"), (778, b""), (n_lines // 2, b"a\tb\tc"),
                (n_lines - 3, b"\xff\xfe not utf-8\tx")])
    for number, line in planted:
        lines[number - 1] = line
    for number in range(5, n_lines, 997):
        lines[number - 1] += b"\r"
    path.write_bytes(b"\n".join(lines))
    return path


def _build(corpus: Path, output: Path, *flags: str) -> Path:
    assert prepro_main(["--corpus", str(corpus), "--output", str(output), "--shard_tokens",
                        "150000", "--chunk_lines", "700", *flags]) == 0
    return output


def _same_db(ray_db: Path, local_db: Path) -> None:
    names = sorted(path.name for path in local_db.iterdir())
    assert sorted(p.name for p in ray_db.iterdir()) == sorted(names + ["cluster_run.json"])
    for name in names:
        if name != "summary.json":
            assert hashlib.sha256((ray_db / name).read_bytes()).hexdigest() == \
                hashlib.sha256((local_db / name).read_bytes()).hexdigest(), name
    summaries = [{key: value for key, value in json.loads((db / "summary.json").read_text())
                  .items() if key not in TIMING} for db in (ray_db, local_db)]
    assert summaries[0] == summaries[1]


@pytest.mark.slow
@pytest.mark.multiproc
def test_50k_lines_on_two_raylets_equal_the_local_build_and_train(cluster, tmp_path,
                                                                  repo_root):
    corpus = _corpus(tmp_path / "train.tsv", 50_000, seed=3)
    local = _build(corpus, tmp_path / "local.db", "--workers", "2")
    ray_db = _build(corpus, tmp_path / "ray.db", "--executor", "ray", "--ray_address",
                    cluster.address, "--range_bytes", str(corpus.stat().st_size // 9))
    _same_db(ray_db, local)
    manifest = json.loads((local / "manifest.json").read_text())
    assert len(manifest["shards"]) >= 5  # several shards, several ranges per shard and back
    summary = json.loads((local / "summary.json").read_text())
    assert summary["skipped"]["no_tab"]["first_lines"] == [11]
    assert summary["skipped"]["non_utf8"]["first_lines"] == [49_997]
    assert summary["normalised"]["crlf_line_endings"] == len(range(5, 50_000, 997))
    run = json.loads((ray_db / "cluster_run.json").read_text())
    assert len(run["ranges"]) >= 9 and len({row["node_id"] for row in run["ranges"]}) == 2
    assert not list(tmp_path.glob(".*"))  # no temporary directory left behind

    from dialogpt.training.train import main as train_main

    out = tmp_path / "run"
    assert train_main(["--model_name_or_path", str(repo_root / "configs" / "tiny"),
                       "--train_input_file", str(ray_db), "--output_dir", str(out),
                       "--skip_eval", "--train_batch_size", "4", "--num_optim_steps", "2",
                       "--valid_step", "1000", "--pbar", "false", "--seed", "7"]) == 0
    steps = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    assert len(steps) == 2 and all(np.isfinite(step["loss"]) for step in steps)
    assert len(TokenDB(ray_db)) == manifest["n_examples"]


@pytest.mark.slow
@pytest.mark.multiproc
def test_a_killed_worker_is_retried_with_the_same_db(cluster, tmp_path):
    from ray_kill import ray_with_kill_once

    corpus = _corpus(tmp_path / KILLED, 3_000, seed=4)
    local = _build(corpus, tmp_path / "local.db", "--workers", "1")
    marker = tmp_path / "killed-once"  # made by range 1's first encode task as it dies
    with ray_with_kill_once(cluster.address, "dialogpt.data.prepro_cluster", "encode_range",
                            lambda job, *_: Path(job.corpus).name == KILLED and job.index == 1,
                            marker):
        ray_db = _build(corpus, tmp_path / "ray.db", "--executor", "ray", "--ray_address",
                        cluster.address, "--range_bytes", str(corpus.stat().st_size // 3))
    assert marker.exists()  # the first attempt at range 1 did die
    _same_db(ray_db, local)


@pytest.mark.slow
@pytest.mark.multiproc
def test_strict_names_the_global_line_and_leaves_nothing(cluster, tmp_path):
    corpus = _corpus(tmp_path / "strict.tsv", 3_000, seed=5, bad=(2_345, 2_900))
    with pytest.raises(UserError, match=r"strict\.tsv:2345: no TAB"):  # a later range's
        _build(corpus, tmp_path / "ray.db", "--executor", "ray", "--ray_address",
               cluster.address, "--range_bytes", "20000", "--strict")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["strict.tsv"]


@pytest.mark.slow
@pytest.mark.multiproc
def test_godel_records_on_two_raylets_equal_the_local_build(cluster, tmp_path,
                                                            t5_tokenizer_dir):
    from dialogpt.demo.grounded_data import make_records

    corpus = tmp_path / "grounded.jsonl"
    lines = [json.dumps(record) for record in make_records(400, seed=2)]
    lines[7] = "{not json"
    corpus.write_text("\n".join(lines) + "\n", encoding="utf-8")
    flags = ["--tokenizer", str(t5_tokenizer_dir), "--max_source_len", "64",
             "--max_target_len", "16", "--shard_tokens", "3000", "--chunk_lines", "50"]
    local = tmp_path / "local.db"
    assert prepro_main(["--corpus", str(corpus), "--output", str(local), "--workers", "1",
                        *flags]) == 0
    ray_db = tmp_path / "ray.db"
    assert prepro_main(["--corpus", str(corpus), "--output", str(ray_db), "--executor", "ray",
                        "--ray_address", cluster.address, "--range_bytes", "9000", *flags]) == 0
    assert len(json.loads((local / "manifest.json").read_text())["shards"]) >= 3
    _same_db(ray_db, local)
