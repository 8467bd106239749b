"""The token DB: round trip, compact storage, and corruption detected on open."""

from __future__ import annotations

import json

import numpy as np
import pytest

from dialogpt.cli import UserError
from dialogpt.data.db import TokenDB, shard_file
from dialogpt.data.features import Feature, make_feature

EOS = 50256


def _features():
    return [
        make_feature([[1, 2], [3], [4, 5]], [1.0, 1.0, 1.0], EOS),          # regular
        make_feature([[6], [7, 8], [9]], [1.0, 0.0, 1.0], EOS),             # zero turn first
        make_feature([[1], [2], [3], [4], [5]], [0.0, 1.0, 0.0, 1.0, 0.0], EOS),  # two spans
        make_feature([[10], [11], [12]], [0.0, 0.5, 2.0], EOS),            # weights != 1
        make_feature([[50255], [0]], [1.0, 1.0], EOS),                      # extreme ids
    ]


def test_round_trip_input_ids_labels_and_weights(make_db):
    features = _features()
    db = TokenDB(make_db(features, shard_tokens=8, chunk=2))
    assert len(db) == len(features)
    assert len(db.manifest["shards"]) > 1                       # several shards exercised
    for index, feature in enumerate(features):
        input_ids, labels = db[index]
        assert input_ids.tolist() == feature.input_ids
        assert labels.tolist() == feature.labels(EOS)
        assert db.token_weights(index).tolist() == feature.token_weights()
    assert db.lengths.tolist() == [len(f.input_ids) for f in features]
    assert db[-1][0].tolist() == features[-1].input_ids
    with pytest.raises(IndexError):
        db[len(features)]


def test_batch_pads_at_the_end_and_matches_single_examples(make_db):
    features = _features()
    db = TokenDB(make_db(features, shard_tokens=8, chunk=2))
    order = [3, 0, 4, 2, 1]
    batch = db.batch(order, pad_id=7)
    width = max(len(features[i].input_ids) for i in order)
    assert batch["input_ids"].shape == (5, width)
    for row, index in enumerate(order):
        length = len(features[index].input_ids)
        assert batch["input_ids"][row, :length].tolist() == features[index].input_ids
        assert batch["input_ids"][row, length:].tolist() == [7] * (width - length)
        assert batch["labels"][row].tolist() == features[index].labels(EOS) + [-1] * (
            width - length)
        assert batch["attention_mask"][row].tolist() == [1] * length + [0] * (width - length)
        assert batch["position_ids"][row, :length].tolist() == list(range(length))


def test_storage_is_uint16_tokens_plus_a_small_index(make_db):
    regular = [make_feature([[i % 50000] * 20, [1] * 30], [0.0, 1.0], EOS) for i in range(100)]
    path = make_db(regular, max_seq_len=128)
    manifest = json.loads((path / "manifest.json").read_text())
    assert manifest["token_dtype"] == "uint16" and manifest["length_dtype"] == "uint8"
    data_bytes = sum(f.stat().st_size for f in path.glob("*.bin"))
    tokens = manifest["n_tokens"]
    assert tokens == 100 * 51
    # 2 bytes per token + 1 byte length + 1 byte label start per example, nothing else
    assert data_bytes == 2 * tokens + 2 * 100


def test_wide_vocab_and_long_sequences_use_wider_types(make_db):
    feature = make_feature([[70000] * 300, [1]], [1.0, 1.0], EOS)
    path = make_db([feature], vocab_size=100000, max_seq_len=400)
    manifest = json.loads((path / "manifest.json").read_text())
    assert (manifest["token_dtype"], manifest["length_dtype"]) == ("uint32", "uint16")
    assert TokenDB(path)[0][0].tolist() == feature.input_ids


def test_manifest_has_the_documented_fields(make_db):
    manifest = TokenDB(make_db(_features())).manifest
    for key in ("tokenizer", "tokenizer_fingerprint", "vocab_size", "max_seq_len", "reverse",
                "two_turn", "n_examples", "n_tokens", "format_version", "eos_id"):
        assert key in manifest


def _corrupt_first_byte(path):
    data = bytearray(path.read_bytes())
    data[0] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("damage, message", [
    (lambda p: _corrupt_first_byte(p / shard_file(0, "tokens")), "sha256"),
    (lambda p: (p / shard_file(0, "lengths")).write_bytes(b"\x01"), "bytes"),
    (lambda p: (p / shard_file(0, "label_start")).unlink(), "missing"),
    (lambda p: (p / "manifest.json").unlink(), "manifest.json is missing"),
    (lambda p: (p / "manifest.json").write_text("{not json"), "corrupt"),
    (lambda p: (p / "manifest.json").write_text(
        (p / "manifest.json").read_text().replace('"format_version": 1', '"format_version": 9')),
     "version 9"),
])
def test_damage_is_detected_on_open(make_db, damage, message):
    path = make_db(_features())
    damage(path)
    with pytest.raises(UserError, match=message):
        TokenDB(path)


def test_a_shard_from_another_db_is_detected(make_db):
    a = make_db(_features(), name="a")
    b = make_db([make_feature([[1], [2]], [1.0, 1.0], EOS)] * 5, name="b")
    (a / shard_file(0, "lengths")).write_bytes((b / shard_file(0, "lengths")).read_bytes())
    with pytest.raises(UserError, match="sha256"):
        TokenDB(a)
    with pytest.raises(UserError, match="inconsistent"):
        TokenDB(a, verify=False)                # even without hashing: counts disagree


def test_missing_db_names_the_path(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        TokenDB(tmp_path / "nope.db")


def test_feature_is_stored_without_labels_array(make_db):
    """Labels are derived: a predicted label is the next input token (EOS at the end)."""
    feature = Feature([5, EOS, 6, 7], ((1, 4, 1.0),))
    input_ids, labels = TokenDB(make_db([feature]))[0]
    assert labels.tolist() == [-1, 6, 7, EOS]
    assert np.array_equal(input_ids, [5, EOS, 6, 7])
