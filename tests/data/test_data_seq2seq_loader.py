"""Seq2seq DB reading and loaders: batches per the contract, bucketing, resume, eval over JSONL."""

from __future__ import annotations

import json

import numpy as np
import pytest

from dialogpt.cli import UserError
from dialogpt.data.db_open import open_db
from dialogpt.data.loader import BucketingDataLoader, GroundedEvalLoader
from dialogpt.data.prepro import main


@pytest.fixture(scope="module")
def tok(t5_tokenizer_dir):
    from dialogpt.tokenization import load_tokenizer

    return load_tokenizer(str(t5_tokenizer_dir))


@pytest.fixture(scope="module")
def corpus_and_db(tmp_path_factory, t5_tokenizer_dir):
    from dialogpt.demo.grounded_data import make_records

    directory = tmp_path_factory.mktemp("seq2seq")
    corpus = directory / "train.jsonl"
    lines = [json.dumps(record) for record in make_records(57, seed=2)]
    lines.insert(3, "not json")
    corpus.write_text("\n".join(lines) + "\n")
    db = directory / "db"
    assert main(["--corpus", str(corpus), "--tokenizer", str(t5_tokenizer_dir), "--workers", "1",
                 "--max_source_len", "48", "--max_target_len", "8", "--shard_tokens", "700", "--chunk_lines", "10",
                 "--output", str(db)]) == 0
    return corpus, db


def test_db_examples_and_shards(corpus_and_db):
    _, db_path = corpus_and_db
    db = open_db(db_path)
    assert db.kind == "seq2seq" and len(db) == 57 and len(db.manifest["shards"]) > 1
    for index in range(len(db)):
        source, target = db[index]
        assert source[-1] == 1 and target[-1] == 1
        assert len(source) == db.lengths[index] <= 48 and len(target) <= 8
    assert db.bucket_lengths.tolist() == (db.lengths.astype(int) + db.target_lengths).tolist()
    with pytest.raises(TypeError):
        db.spans(0)


def test_batch_follows_the_contract(corpus_and_db):
    _, db_path = corpus_and_db
    db = open_db(db_path)
    loader = BucketingDataLoader(db, batch_size=4, shuffle=False, bucket_size=1)
    batch = next(iter(loader))
    assert set(batch) == {"input_ids", "attention_mask", "labels"}
    assert all(tensor.dtype.is_floating_point is False for tensor in batch.values())
    ids = loader.batch_plan(0)[0]
    assert batch["input_ids"].shape == (4, max(db.lengths[ids]))
    assert batch["labels"].shape == (4, max(db.target_lengths[ids]))
    for row, index in enumerate(ids):
        source, target = db[int(index)]
        n, t = len(source), len(target)
        assert batch["input_ids"][row, :n].tolist() == source.tolist()
        assert set(batch["input_ids"][row, n:].tolist()) <= {0}  # the T5 pad id
        assert batch["attention_mask"][row].tolist() == [1] * n + [0] * (
            batch["input_ids"].shape[1] - n)
        assert batch["labels"][row, :t].tolist() == target.tolist()
        assert set(batch["labels"][row, t:].tolist()) <= {-1}


def test_every_example_once_per_epoch_and_buckets_by_source_plus_target(corpus_and_db):
    _, db_path = corpus_and_db
    db = open_db(db_path)
    loader = BucketingDataLoader(db, batch_size=5, bucket_size=3, seed=1)
    plan = loader.batch_plan(0)
    seen = np.concatenate(plan)
    assert sorted(seen.tolist()) == list(range(len(db)))
    total = db.bucket_lengths
    # one bucket, no shuffling: examples sorted by source + target length, longest first
    unshuffled = BucketingDataLoader(db, batch_size=5, bucket_size=100, shuffle=False)
    order = np.concatenate(unshuffled.batch_plan(0))
    assert total[order].tolist() == sorted(total.tolist(), reverse=True)


def test_resume_gives_the_same_next_batches(corpus_and_db):
    _, db_path = corpus_and_db
    first = BucketingDataLoader(db_path, batch_size=4, bucket_size=2, seed=3)
    stream = iter(first)
    for _ in range(5):
        next(stream)
    state = json.loads(json.dumps(first.state_dict()))
    expected = [next(stream) for _ in range(4)]
    second = BucketingDataLoader(db_path, batch_size=4, bucket_size=2, seed=3)
    second.load_state_dict(state)
    for want, got in zip(expected, iter(second)):
        for name in want:
            assert got[name].equal(want[name])


def test_max_seq_len_limits_the_source(corpus_and_db):
    _, db_path = corpus_and_db
    db = open_db(db_path)
    limit = int(np.median(db.lengths))
    loader = BucketingDataLoader(db, batch_size=4, max_seq_len=limit)
    assert loader.n_left_out == int((db.lengths > limit).sum()) > 0


def test_eval_loader_matches_the_db_in_file_order(corpus_and_db, tok):
    corpus, db_path = corpus_and_db
    db = open_db(db_path)
    loader = GroundedEvalLoader.for_db(corpus, tok, batch_size=10, db=db)
    batches = list(loader)
    assert len(loader) == len(batches) == 6 and loader.skipped == {"bad_json": 1}
    row = 0
    for batch in batches:
        for b in range(batch["input_ids"].shape[0]):
            source, target = db[row]
            mask = batch["attention_mask"][b].bool()
            assert batch["input_ids"][b][mask].tolist() == source.tolist()
            assert batch["labels"][b][batch["labels"][b] >= 0].tolist() == target.tolist()
            row += 1
    assert row == len(db)
    assert loader.cuts.records_cut == json.loads(
        (db_path / "summary.json").read_text())["cuts"]["records_cut"]


def test_eval_loader_missing_file_is_a_user_error(tmp_path, tok):
    with pytest.raises(UserError):
        GroundedEvalLoader(tmp_path / "none.jsonl", tok, batch_size=2)


def test_corrupt_target_shard_is_detected(tmp_path, corpus_and_db):
    import shutil

    _, db_path = corpus_and_db
    copy = tmp_path / "copy"
    shutil.copytree(db_path, copy)
    target = copy / "00000.target_tokens.bin"
    data = bytearray(target.read_bytes())
    data[0] ^= 1
    target.write_bytes(bytes(data))
    with pytest.raises(UserError, match="sha256"):
        open_db(copy)
