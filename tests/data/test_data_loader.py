"""Bucketing loaders (determinism, sharding, exact resume) and the TSV evaluation loader."""

from __future__ import annotations

import json
import random

import pytest
import torch

from dialogpt.data.features import make_feature
from dialogpt.data.loader import (BucketingDataLoader, DistributedBucketingDataLoader,
                                  DynamicBatchingLoader)
from dialogpt.data.sampling import batches_per_epoch

EOS = 50256


@pytest.fixture
def db_path(make_db):
    rng = random.Random(0)
    features = []
    for i in range(103):
        context = [rng.randrange(50000) for _ in range(rng.randint(1, 20))]
        response = [rng.randrange(50000) for _ in range(rng.randint(1, 20))]
        weights = [1.0, 1.0] if i % 5 else [0.0, 0.5]
        features.append(make_feature([context, response], weights, EOS))
    return make_db(features, max_seq_len=64)


def _ids(loader, epoch=None):
    return [batch.tolist() for batch in loader.batch_plan(epoch)]


def test_batch_format(db_path):
    from dialogpt.data.db import TokenDB

    db = TokenDB(db_path)
    loader = BucketingDataLoader(db, batch_size=4, shuffle=False, pad_id=3)
    batch = next(iter(loader))
    assert set(batch) == {"input_ids", "attention_mask", "position_ids", "labels"}
    assert all(t.dtype == torch.long for t in batch.values())
    for row, example in enumerate(_ids(loader)[0]):
        input_ids, labels = db[example]
        n = len(input_ids)
        assert batch["input_ids"][row, :n].tolist() == input_ids.tolist()
        assert batch["input_ids"][row, n:].eq(3).all()                # padding at the end
        assert batch["labels"][row, :n].tolist() == labels.tolist()
        assert batch["labels"][row, n:].eq(-1).all()
        assert batch["attention_mask"][row].tolist() == [1] * n + [0] * (
            batch["input_ids"].shape[1] - n)
        assert batch["position_ids"][row, :n].tolist() == list(range(n))


def test_buckets_hold_similar_lengths(db_path):
    loader = BucketingDataLoader(db_path, batch_size=4, bucket_size=100, seed=1)
    lengths = loader.db.lengths
    for batch in loader.batch_plan():
        batch_lengths = [int(lengths[i]) for i in batch]
        assert batch_lengths == sorted(batch_lengths, reverse=True)


def test_every_example_once_per_epoch_and_len(db_path):
    loader = BucketingDataLoader(db_path, batch_size=8, bucket_size=2, seed=5)
    seen = sorted(i for batch in _ids(loader) for i in batch)
    assert seen == list(range(103))
    # buckets of 2 * 8 = 16 examples: 6 full buckets -> 12 batches, 7 left over -> 1 batch
    assert len(loader) == len(_ids(loader)) == 13
    assert len(loader) == sum(1 for _ in loader)


def test_order_is_a_function_of_seed_and_epoch(db_path):
    a = BucketingDataLoader(db_path, batch_size=4, seed=7)
    b = BucketingDataLoader(db_path, batch_size=4, seed=7)
    c = BucketingDataLoader(db_path, batch_size=4, seed=8)
    assert _ids(a, 0) == _ids(b, 0)
    assert _ids(a, 0) != _ids(c, 0)
    assert _ids(a, 0) != _ids(a, 1)
    first = [batch["input_ids"] for batch in a]                      # epoch 0 ...
    second = [batch["input_ids"] for batch in a]                     # ... then epoch 1
    assert a.epoch == 2
    b.set_epoch(1)
    assert all(torch.equal(x, y) for x, y in zip(second, [batch["input_ids"] for batch in b]))
    assert not all(torch.equal(x, y) for x, y in zip(first, second))


@pytest.mark.parametrize("world_size", [2, 3, 4, 200])
def test_ranks_get_equal_batches_and_cover_every_example(db_path, world_size):
    loaders = [DistributedBucketingDataLoader(db_path, 4, rank=r, world_size=world_size,
                                              bucket_size=3) for r in range(world_size)]
    counts = {len(loader) for loader in loaders}
    assert len(counts) == 1
    assert counts == {batches_per_epoch(103, 4, 3, world_size, False)}
    assert all(len(loader.batch_plan()) == len(loader) for loader in loaders)
    examples = [i for loader in loaders for batch in _ids(loader) for i in batch]
    per_rank = -(-103 // world_size)
    assert len(examples) == per_rank * world_size                   # wrapped to fill ranks
    assert set(examples) == set(range(103))


def test_drop_last_keeps_only_full_batches(db_path):
    loader = BucketingDataLoader(db_path, 10, drop_last=True, bucket_size=1, shuffle=False)
    assert len(loader) == 10 and all(len(batch) == 10 for batch in loader.batch_plan())


def test_exact_resume_mid_epoch(db_path):
    reference = BucketingDataLoader(db_path, batch_size=4, seed=3)
    reference.set_epoch(2)
    expected = [batch["input_ids"] for batch in reference]
    interrupted = BucketingDataLoader(db_path, batch_size=4, seed=3)
    interrupted.set_epoch(2)
    iterator = iter(interrupted)
    head = [next(iterator)["input_ids"] for _ in range(5)]
    state = json.loads(json.dumps(interrupted.state_dict()))
    assert state["epoch"] == 2 and state["batches_consumed"] == 5
    resumed = BucketingDataLoader(db_path, batch_size=4, seed=3)
    resumed.load_state_dict(state)
    tail = [batch["input_ids"] for batch in resumed]
    assert len(head) + len(tail) == len(expected)
    assert all(torch.equal(x, y) for x, y in zip(head + tail, expected))
    assert resumed.state_dict()["epoch"] == 3


def test_resume_after_the_last_batch_starts_the_next_epoch(db_path):
    loader = BucketingDataLoader(db_path, batch_size=50)
    states = [loader.state_dict() for _ in loader]                  # recorded after each batch
    resumed = BucketingDataLoader(db_path, batch_size=50)
    resumed.load_state_dict(states[-1])
    fresh = BucketingDataLoader(db_path, batch_size=50)
    fresh.set_epoch(1)
    assert [b["input_ids"].tolist() for b in resumed] == [b["input_ids"].tolist() for b in fresh]


def test_state_from_a_different_setup_is_refused(db_path):
    state = BucketingDataLoader(db_path, batch_size=4, seed=3).state_dict()
    with pytest.raises(ValueError, match="batch_size"):
        BucketingDataLoader(db_path, batch_size=8, seed=3).load_state_dict(state)


def test_max_seq_len_leaves_longer_examples_out(db_path):
    loader = BucketingDataLoader(db_path, batch_size=4, max_seq_len=20)
    lengths = loader.db.lengths
    kept = [i for batch in loader.batch_plan() for i in batch]
    assert all(lengths[i] <= 20 for i in kept)
    assert len(kept) == int((lengths <= 20).sum()) and loader.n_left_out > 0


# ----------------------------------------------------------------------------- evaluation loader
def test_dynamic_loader_parses_weights_and_eos(tmp_path, gpt2_tokenizer, gpt2_vocab):
    v = gpt2_vocab
    path = tmp_path / "valid.tsv"
    path.write_text("0.0 a EOS 1.0 b\t1.0 c\nno tab\nx\ty\nd\te\n")
    loader = DynamicBatchingLoader(path, gpt2_tokenizer, batch_size=2, max_seq_len=32)
    batches = list(loader)
    assert [b["input_ids"].shape[0] for b in batches] == [2, 1]          # last partial kept
    assert len(loader) == 2
    first = batches[0]
    # weights stripped, turns joined by EOS, only the response (and its EOS) predicted
    assert first["input_ids"][0].tolist() == [v["a"], EOS, v["b"], EOS, v["c"]]
    assert first["labels"][0].tolist() == [-1, -1, -1, v["c"], EOS]
    assert first["input_ids"][1].tolist() == [v["x"], EOS, v["y"], 0, 0]
    assert first["labels"][1].tolist() == [-1, v["y"], EOS, -1, -1]
    assert first["attention_mask"][1].tolist() == [1, 1, 1, 0, 0]
    assert loader.skipped == {"no_tab": 1}
    again = list(loader)                                                  # re-iterable
    assert all(torch.equal(x["input_ids"], y["input_ids"]) for x, y in zip(batches, again))


def test_dynamic_loader_truncates_to_max_seq_len(tmp_path, gpt2_tokenizer):
    path = tmp_path / "valid.tsv"
    path.write_text(" ".join(["word"] * 50) + "\t" + " ".join(["reply"] * 50) + "\n")
    [batch] = list(DynamicBatchingLoader(path, gpt2_tokenizer, batch_size=4, max_seq_len=16))
    assert batch["input_ids"].shape == (1, 16)
