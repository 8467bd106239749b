"""Reading references, keys and hypotheses: formats, reference streams and bad input."""

from __future__ import annotations

import pytest

from dialogpt.cli import UserError
from dialogpt.evaluation import inputs
from dialogpt.evaluation.inputs import Diagnostics


def write(path, text: str, encoding: str = "utf-8"):
    path.write_bytes(text.encode(encoding) if isinstance(text, str) else text)
    return path


@pytest.fixture
def refs(tmp_path):
    return write(tmp_path / "refs.txt",
                 "k1\t1|r0 one\t1|human one\t0.5|r2 one\n"
                 "k2\t1|r0 two\t1|human two\n"
                 "k3\t2|a|b c\t1|x\n")


def test_lines_split_like_python_text_mode(tmp_path):
    path = write(tmp_path / "f.txt", b"a\r\nb\rc\n\nd\xe2\x80\xa8e")
    # \r\n, \r and \n end lines; U+2028 does not (neither in Python files nor in Java readLine)
    assert inputs.read_lines(path) == ["a", "b", "c", "", "d\u2028e"]
    assert inputs.read_lines(write(tmp_path / "bom.txt", "\ufeffk1\n")) == ["k1"]


def test_non_utf8_names_file_line_and_column(tmp_path):
    path = write(tmp_path / "hyp.txt", b"ok\nbad \xff here\n")
    with pytest.raises(UserError, match=r"hyp\.txt:2: not valid UTF-8 \(byte 0xff at column 5\)"):
        inputs.read_lines(path)


def test_reference_text_is_between_first_and_second_bar(refs):
    diagnostics = Diagnostics()
    references = inputs.read_references(refs, {"k1", "k2", "k3"}, diagnostics, True)
    assert references.texts["k1"] == ["r0 one", "human one", "r2 one"]
    assert references.texts["k3"] == ["a", "x"]  # "2|a|b c" -> "a", as the official split('|')[1]
    assert any("more than one '|'" in kind for kind in diagnostics.counts)
    assert references.line_of["k3"] == 3


def test_reference_without_bar(tmp_path):
    path = write(tmp_path / "refs.txt", "k1\t1|scored\tplain text\n")
    official = Diagnostics()
    assert inputs.read_references(path, None, official, True).texts["k1"] == ["scored",
                                                                             "plain text"]
    [(kind, count)] = official.counts.items()
    assert "without a 'score|' prefix" in kind and count == 1
    assert "refs.txt:1: reference 2 of k1" in official.examples[kind][0]
    dialogpt = Diagnostics()
    inputs.read_references(path, None, dialogpt, False)
    assert not dialogpt.counts


def test_plain_reference_file_is_used_whole_without_warnings(tmp_path):
    # test.refs.txt format: no score prefixes anywhere, and a '|' inside a text is text.
    path = write(tmp_path / "test.refs.txt", "ctx one\thi there\ta | b\nctx two\tyes\n")
    diagnostics = Diagnostics()
    references = inputs.read_references(path, None, diagnostics, True)
    assert references.texts == {"ctx one": ["hi there", "a | b"], "ctx two": ["yes"]}
    assert not diagnostics.counts


def test_reference_line_without_references_is_an_error(tmp_path):
    path = write(tmp_path / "refs.txt", "k1\t1|a\nk2\n")
    with pytest.raises(UserError, match=r"refs\.txt:2: key k2 has no references"):
        inputs.read_references(path, None, Diagnostics(), True)


@pytest.mark.parametrize("n_refs, vshuman, expected", [
    (6, 1, [0, 2, 2, 3, 4, 5]),   # the spec's example: r0, r2, r2, r3, r4, r5
    (6, -1, [0, 1, 2, 3, 4, 5]),
    (3, 0, [1, 1, 2]),
])
def test_reference_stream_selection(tmp_path, n_refs, vshuman, expected):
    path = write(tmp_path / "refs.txt", "k\t" + "\t".join(f"1|r{i}" for i in range(6)) + "\n")
    references = inputs.read_references(path, None, Diagnostics(), True)
    streams = inputs.select_reference_streams(references, ["k"], n_refs, vshuman)
    assert streams == [[f"r{i}"] for i in expected]


def test_two_references_with_human_skipped_use_the_first_everywhere(refs):
    references = inputs.read_references(refs, None, Diagnostics(), True)
    streams = inputs.select_reference_streams(references, ["k2"], 6, 1)
    assert streams == [["r0 two"]] * 6


def test_dstc_hypotheses(tmp_path):
    path = write(tmp_path / "sub.txt",
                 "k1\t-\t-\t-\t-\t-\tfirst\n"
                 "zz\t-\t-\t-\t-\t-\tnot scored\n"
                 "k2\t-\tshort row\n"
                 "k1\t-\t-\t-\t-\t-\tagain\n")
    diagnostics = Diagnostics()
    hyps = inputs.read_dstc_hypotheses(path, {"k1", "k2", "k3"}, diagnostics)
    assert hyps.texts == {"k1": "again", "k2": "short row"}   # later duplicate wins, as official
    assert hyps.line_of == {"k1": 4, "k2": 3}
    kinds = " / ".join(diagnostics.counts)
    assert "duplicate hypothesis key" in kinds
    assert "without 7 columns" in kinds
    assert "not in the keys file were ignored" in kinds


def test_dstc_line_without_response_is_an_error(tmp_path):
    path = write(tmp_path / "sub.txt", "k1\t-\t-\t-\t-\t-\tok\nk2\n")
    with pytest.raises(UserError, match=r"sub\.txt:2: no TAB-separated response after key k2"):
        inputs.read_dstc_hypotheses(path, {"k1", "k2"}, Diagnostics())


def test_plain_hypotheses_keep_empty_lines_in_place(tmp_path):
    path = write(tmp_path / "h.resp.txt", "one\n\nthree\n")
    hyps = inputs.read_plain_hypotheses(path, ["k1", "k2", "k3"], "keys", {"k1", "k2", "k3"},
                                        Diagnostics())
    assert hyps.texts == {"k1": "one", "k2": "", "k3": "three"}


@pytest.mark.parametrize("text", ["one\nthree\n", "one\ntwo\nthree\nfour\n"])
def test_plain_hypotheses_with_wrong_line_count_are_rejected(tmp_path, text):
    path = write(tmp_path / "h.resp.txt", text)
    with pytest.raises(UserError, match=r"h\.resp\.txt has \d lines but keys\.txt has 3 keys"):
        inputs.read_plain_hypotheses(path, ["k1", "k2", "k3"], "keys.txt", {"k1"}, Diagnostics())


def test_hypothesis_key_without_references_is_an_error(tmp_path, refs):
    path = write(tmp_path / "sub.txt", "k1\t-\t-\t-\t-\t-\ta\nk9\t-\t-\t-\t-\t-\tb\n")
    keys = {"k1", "k9"}
    references = inputs.read_references(refs, keys, Diagnostics(), True)
    hyps = inputs.read_dstc_hypotheses(path, keys, Diagnostics())
    with pytest.raises(UserError, match=r"sub\.txt:2: key k9 has no references in .*refs\.txt"):
        inputs.check_coverage(hyps, references, "keys.txt", len(keys), Diagnostics())


def test_missing_hypotheses_are_counted(tmp_path, refs):
    path = write(tmp_path / "sub.txt", "k2\t-\t-\t-\t-\t-\tb\n")
    keys = {"k1", "k2", "k3"}
    diagnostics = Diagnostics()
    references = inputs.read_references(refs, keys, diagnostics, True)
    hyps = inputs.read_dstc_hypotheses(path, keys, diagnostics)
    assert inputs.check_coverage(hyps, references, "keys.txt", 3, diagnostics) == ["k2"]
    assert any("2 of 3 keys missing" in e for ex in diagnostics.examples.values() for e in ex)


def test_detect_format_and_keys_from_a_tsv(tmp_path, refs):
    assert inputs.detect_format(refs, {"k2"}) == "dstc"
    assert inputs.detect_format(write(tmp_path / "p.txt", "a reply\nk2\n"), {"k2"}) == "plain"
    # a TAB inside a plain response does not make it a submission
    assert inputs.detect_format(write(tmp_path / "t.txt", "a\treply\n"), {"k2"}) == "plain"
    assert inputs.read_keys(refs) == ["k1", "k2", "k3"]
    with pytest.raises(UserError, match="no keys"):
        inputs.read_keys(write(tmp_path / "empty.txt", "\n"))


def test_diagnostics_summary_counts_and_truncates():
    diagnostics = Diagnostics()
    for i in range(5):
        diagnostics.warn("odd line", f"f:{i}")
    summary = diagnostics.summary()
    assert summary[0] == "warning: odd line (5x)"
    assert summary[-1] == "  ... and 2 more"
