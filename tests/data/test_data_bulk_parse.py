"""The chunk-at-once parser (``dialogpt.data.bulk_parse``) against the line-by-line rules, and
the threaded ``process_chunks`` against ``process_chunk``."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from dialogpt.data.bulk_parse import bulk_turns
from dialogpt.data.features import BadLine, parse_line, select_turns
from dialogpt.data.lines import decode_line
from dialogpt.data.pipeline import FeatureConfig, process_chunk, process_chunks

# mostly extractor-shaped turns, with every near-miss the bulk parser must hand back
_turn = st.builds(lambda w, words: " ".join(([w] if w else []) + words),
                  st.sampled_from(["1.0", "1.0", "0.0", "", "0.5", "1", "1.00", "EOS"]),
                  st.lists(st.sampled_from(["a", "bc", "EOS", "1.0", "é", "x\x1fy", "'s", "7"]),
                           max_size=4))
_clean_line = st.builds(lambda ctx, resp: " EOS ".join(ctx) + "\t" + resp,
                        st.lists(_turn, min_size=1, max_size=4), _turn)
_line = st.one_of(_clean_line, _clean_line.map(lambda s: s.replace(" ", "  ", 1)),
                  _clean_line.map(lambda s: " " + s), _clean_line.map(lambda s: s + " "),
                  _clean_line.map(lambda s: s.replace("\t", " \t")),
                  _clean_line.map(lambda s: s + "\t1.0 z"), st.just("1.0 a EOS\t1.0 b"),
                  st.just("1.0 a EOS EOS 1.0 b\t1.0 c"), st.just("1.0 a\t1.0 b EOS 1.0 c"))
_raw = st.one_of(_line.map(lambda s: s.encode() + b"\n"), _line.map(lambda s: s.encode() + b"\r\n"),
                 st.just(None), st.just(b"\xff\t1.0 a\n"), st.just(b"\xef\xbb\xbf1.0 a\t1.0 b\n"))


def _line_by_line(raw: bytes | None, reverse: bool, two_turn: bool):
    try:
        parsed = parse_line(decode_line(raw).text)
    except BadLine:
        return None
    turns = select_turns(parsed.context, parsed.responses[0], reverse, two_turn)
    return turns if len(turns) >= 2 else None


@settings(max_examples=300, deadline=None)
@given(st.lists(_raw, min_size=1, max_size=15), st.booleans(), st.booleans(), st.booleans())
def test_accepted_lines_parse_as_the_general_rules(raw_lines, reverse, two_turn, unterminated):
    if unterminated and raw_lines[-1] is not None:
        raw_lines[-1] = raw_lines[-1].rstrip(b"\n")
    bulk = bulk_turns(raw_lines, reverse, two_turn)
    assert bulk is not None and len(bulk.accepted) == len(raw_lines)
    turn = 0
    for k, raw in enumerate(raw_lines):
        if not bulk.accepted[k]:
            continue
        count = int(bulk.counts[sum(bulk.accepted[:k])])
        got = list(zip(bulk.weights[turn:turn + count].tolist(), bulk.texts[turn:turn + count]))
        assert got == _line_by_line(raw, reverse, two_turn), raw
        turn += count
    assert turn == len(bulk.texts) == len(bulk.weights)


def test_clean_lines_are_accepted_the_others_handed_back():
    lines = [b"1.0 a b EOS 0.0 c\t1.0 d\n", b"1.0 a\t0.0 b\n", b"1.0 a  b\t1.0 c\n",
             "1.0 caf\u00e9\t1.0 x\n".encode(), b"1.0 a EOS 1.0 b\t1.0 c EOS 1.0 d\n",
             b"a b\t1.0 c\n", b"1.0 x\t1.0 y"]
    bulk = bulk_turns(lines, False, False)
    assert bulk.accepted.tolist() == [True, False, False, False, False, False, True]
    assert bulk.texts == ["a b", "c", "d", "x", "y"]
    assert bulk.weights.tolist() == [1.0, 0.0, 1.0, 1.0, 1.0]
    assert bulk.counts.tolist() == [3, 2]
    assert bulk_turns([b"1.0 a\n1.0 b\t1.0 c\n"], False, False) is None  # not one line
    assert bulk_turns([b"1.0 a\t1.0 b", b"1.0 c\t1.0 d\n"], False, False) is None


class _CharEncoder:
    eos_id = 0

    def encode_batch(self, texts):
        return [[ord(c) % 1000 + 1 for c in text] for text in texts]


def test_threaded_chunks_equal_one_by_one():
    lines = [f"1.0 a{i} EOS 1.0 b{i % 7}\t{'0.0' if i % 5 == 0 else '1.0'} c{i}\n".encode()
             for i in range(250)] + [b"bad line\n", None, "1.0 \u00e9\t1.0 x\n".encode()]
    chunks = [(1 + k, lines[k:k + 40]) for k in range(0, len(lines), 40)]
    config = FeatureConfig(12, False, False, "uint16", "uint8")
    threaded = list(process_chunks(iter(chunks), _CharEncoder(), config))
    assert len(threaded) == len(chunks)
    for (first, chunk), got in zip(chunks, threaded):
        want = process_chunk(first, chunk, _CharEncoder(), config)
        assert got.skips == want.skips and got.n_lines_written == want.n_lines_written
        for name in ("tokens", "lengths", "label_start", "exc_local", "exc_spans"):
            assert getattr(got.encoded, name).tolist() == getattr(want.encoded, name).tolist()
