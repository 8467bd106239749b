"""Property-based tests (hypothesis) of the invariants of features, parsing, storage, sampling."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from dialogpt.data.features import BadLine, build_features, parse_turns, parse_weight
from dialogpt.data.pipeline import FeatureConfig, process_chunk
from dialogpt.data.sampling import batches_per_epoch, plan_epoch

EOS = 0
_conversation = st.lists(st.tuples(st.integers(1, 15), st.sampled_from([0.0, 1.0, 0.5])),
                         min_size=1, max_size=10)


def _turn_ids(conversation):
    return [[100 * (k + 1) + i for i in range(n)] for k, (n, _) in enumerate(conversation)]


@settings(max_examples=300, deadline=None)
@given(conversation=_conversation, max_len=st.integers(2, 40))
def test_features_are_well_formed(conversation, max_len):
    turn_ids = _turn_ids(conversation)
    weights = [w for _, w in conversation]
    joined = [t for k, ids in enumerate(turn_ids) for t in ([EOS] if k else []) + ids]
    for feature in build_features(turn_ids, weights, EOS, max_len).features:
        ids, labels = feature.input_ids, feature.labels(EOS)
        assert 2 < len(ids) <= max_len                      # never longer than max_seq_len
        assert labels[-1] == EOS                            # trailing -1 trimmed
        assert any(label != -1 for label in labels)
        following = ids[1:] + [EOS]
        assert all(label in (-1, nxt) for label, nxt in zip(labels, following))
        first_eos = ids.index(EOS)
        assert all(label == -1 for label in labels[:first_eos])   # first turn never predicted
        # a window is a contiguous run of whole turns of the conversation
        start = next(i for i in range(len(joined)) if joined[i:i + len(ids)] == ids)
        assert start == 0 or joined[start - 1] == EOS


@settings(max_examples=200, deadline=None)
@given(conversation=_conversation)
def test_a_conversation_that_fits_is_one_untouched_feature(conversation):
    turn_ids = _turn_ids(conversation)
    weights = [w for _, w in conversation]
    total = sum(len(ids) for ids in turn_ids) + len(turn_ids) - 1
    built = build_features(turn_ids, weights, EOS, max_seq_len=total)
    if len(turn_ids) >= 2 and any(w != 0 for w in weights[1:]):
        [feature] = built.features
        joined = [t for k, ids in enumerate(turn_ids) for t in ([EOS] if k else []) + ids]
        assert joined[:len(feature.input_ids)] == feature.input_ids
        assert built.stats.windows_cut == 0
    else:
        assert built.features == []


_word = st.text(st.characters(blacklist_categories=("Cs", "Zs", "Zl", "Zp", "Cc")), min_size=1,
                max_size=6).filter(lambda w: w.split() == [w] and w != "EOS")


def _reads_as_weight(word: str) -> bool:
    try:
        return parse_weight(word) is not None
    except BadLine:
        return True


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([None, 0.0, 1.0, 0.25]),
                          st.lists(_word, min_size=1, max_size=5)), min_size=1, max_size=5))
def test_parse_turns_round_trip(turns):
    assume(all(w is not None or not _reads_as_weight(words[0]) for w, words in turns))
    text = " EOS ".join((f"{w} " if w is not None else "") + "  ".join(words)
                        for w, words in turns)
    assert parse_turns(text) == [(1.0 if w is None else w, " ".join(words))
                                 for w, words in turns]


class _CodepointEncoder:
    """A stand-in tokenizer: one id per character."""

    eos_id = 0

    def encode_batch(self, texts):
        return [[ord(c) % 60000 + 1 for c in text] for text in texts]


_line = st.one_of(
    st.binary(max_size=40),
    st.builds(lambda a, b, c: f"{a}\t{b}{c}".encode(), st.text(max_size=20), st.text(max_size=20),
              st.sampled_from(["", "\r", "\t", "\tx"])),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(_line, max_size=20), st.integers(2, 30))
def test_every_line_is_written_or_skipped_with_a_reason(lines, max_len):
    raw = [line + b"\n" for line in lines]
    config = FeatureConfig(max_len, False, False, "uint16", "uint8")
    result = process_chunk(1, raw, _CodepointEncoder(), config)
    assert result.n_lines_written + len(result.skips) == result.n_lines == len(lines)
    assert sorted(n for n, _, _ in result.skips) == [n for n, _, _ in result.skips]
    assert all(0 < n <= len(lines) for n, _, _ in result.skips)
    assert int(result.encoded.lengths.max(initial=0)) <= max_len


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_conversation, min_size=1, max_size=30), st.integers(1, 200))
def test_db_round_trip(conversations, shard_tokens):
    from packing_reference import encode_features

    from dialogpt.data.db import ShardWriter, TokenDB, length_dtype_for, token_dtype_for

    features = [f for c in conversations
                for f in build_features(_turn_ids(c), [w for _, w in c], EOS, 30).features]
    if not features:
        return
    with tempfile.TemporaryDirectory() as tmp:
        writer = ShardWriter(Path(tmp), token_dtype_for(50257), length_dtype_for(30), shard_tokens)
        for k in range(0, len(features), 3):
            writer.add(encode_features(features[k:k + 3], writer.token_dtype,
                                       writer.length_dtype))
        writer.finish({"eos_id": EOS, "max_seq_len": 30})
        db = TokenDB(tmp)
        assert len(db) == len(features)
        for i, feature in enumerate(features):
            ids, labels = db[i]
            assert ids.tolist() == feature.input_ids and labels.tolist() == feature.labels(EOS)
            assert db.token_weights(i).tolist() == feature.token_weights()
        batch = db.batch(list(range(len(features)))[::-1])
        for row, feature in enumerate(reversed(features)):
            n = len(feature.input_ids)
            assert batch["labels"][row, :n].tolist() == feature.labels(EOS)


@settings(max_examples=200, deadline=None)
@given(n=st.integers(1, 300), batch_size=st.integers(1, 16), bucket=st.integers(1, 5),
       world_size=st.integers(1, 8), drop_last=st.booleans(), shuffle=st.booleans(),
       epoch=st.integers(0, 3))
def test_epoch_plans_are_balanced_deterministic_and_complete(n, batch_size, bucket, world_size,
                                                             drop_last, shuffle, epoch):
    import numpy as np

    ids = np.arange(n) * 3
    lengths = (np.arange(n) * 7919) % 97
    plans = [plan_epoch(ids, lengths, batch_size, bucket, shuffle, 11, epoch, rank, world_size,
                        drop_last) for rank in range(world_size)]
    expected = batches_per_epoch(n, batch_size, bucket, world_size, drop_last)
    assert [len(plan) for plan in plans] == [expected] * world_size
    again = plan_epoch(ids, lengths, batch_size, bucket, shuffle, 11, epoch, 0, world_size,
                       drop_last)
    assert [b.tolist() for b in again] == [b.tolist() for b in plans[0]]
    if not drop_last:
        seen = {int(i) for plan in plans for batch in plan for i in batch}
        assert seen == set(ids.tolist())
        assert sum(len(b) for plan in plans for b in plan) == -(-n // world_size) * world_size
