"""make_refs.py: a conversation TSV -> references; batch_eval.py refuses a TSV as --refs."""

from __future__ import annotations

import json

import pytest

from dialogpt.cli import run_main
from dialogpt.evaluation.batch_eval import main as eval_main
from dialogpt.evaluation.make_refs import looks_like_training_tsv, main

TSV = "".join(line + "\n" for line in [
    "0.0 hi there EOS 1.0 how are you ?\t1.0 fine thanks",
    "0.0 what is your favorite color ?\t1.0 blue",
    "0.0 hi there EOS 1.0 how are you ?\t1.0 not bad",
    "0.0 hi there EOS 1.0 how are you ?\t1.0 fine thanks",   # a repeated response: one ref
    "no tab on this line",
    "0.0 what is your favorite color ?\t0.0 filtered reply",  # weight 0: not a reference
    "0.0 do you like tea ?\t1.0 yes",
])


@pytest.fixture
def tsv(tmp_path):
    path = tmp_path / "valid.tsv"
    path.write_text(TSV, encoding="utf-8")
    return path


def lines(path):
    return path.read_text(encoding="utf-8").splitlines()


def test_single_reference_keeps_the_first_response_per_context(tsv, tmp_path, capsys):
    out = tmp_path / "valid.refs.txt"
    assert run_main(main, ["--tsv", str(tsv), "--out", str(out)]) == 0
    assert lines(out) == ["hi there EOS how are you ?\tfine thanks",
                          "what is your favorite color ?\tblue",
                          "do you like tea ?\tyes"]
    err = capsys.readouterr().err
    assert "no_tab" in err and f"{tsv}:5" in err and "zero_weight_response" in err


def test_multi_reference_groups_identical_contexts(tsv, tmp_path):
    out = tmp_path / "refs.txt"
    assert run_main(main, ["--tsv", str(tsv), "--out", str(out), "--max_refs", "6",
                           "--min_refs", "2"]) == 0
    assert lines(out) == ["hi there EOS how are you ?\tfine thanks\tnot bad"]


def test_max_contexts_and_no_match(tsv, tmp_path, capsys):
    out = tmp_path / "refs.txt"
    assert run_main(main, ["--tsv", str(tsv), "--out", str(out), "--max_contexts", "1"]) == 0
    assert len(lines(out)) == 1
    assert run_main(main, ["--tsv", str(tsv), "--out", str(out), "--min_refs", "5"]) == 2
    assert "no context with at least 5" in capsys.readouterr().err


def test_refs_score_against_generate_style_output(tsv, tmp_path, capsys):
    """The refs file scores a hypothesis file aligned with its lines (keys = contexts)."""
    refs = tmp_path / "refs.txt"
    run_main(main, ["--tsv", str(tsv), "--out", str(refs)])
    hyp = tmp_path / "out.resp.txt"
    hyp.write_text("fine thanks\nblue\nyes\n", encoding="utf-8")
    capsys.readouterr()
    code = run_main(eval_main, ["--refs", str(refs), "--hyp", str(hyp), "--format", "plain",
                                "--no_meteor", "--json", "--n_refs", "1"])
    out, err = capsys.readouterr()
    assert code == 0 and "warning" not in err
    assert json.loads(out)["n_lines"] == 3


def test_batch_eval_refuses_a_tsv_as_refs_and_points_at_make_refs(tsv, tmp_path, capsys):
    hyp = tmp_path / "out.resp.txt"
    hyp.write_text("a\nb\nc\n", encoding="utf-8")
    code = run_main(eval_main, ["--refs", str(tsv), "--hyp", str(hyp), "--format", "plain",
                                "--no_meteor"])
    err = capsys.readouterr().err
    assert code == 2 and "make_refs.py --tsv" in err and "Traceback" not in err


@pytest.mark.parametrize("text, expected", [
    ("0.0 a EOS 1.0 b\t1.0 c\n", True),
    ("1.0 hello\t1.0 hi\n", True),
    ("a EOS b\tc\td\n", False),                       # plain multi-reference file
    ("k1\t1|the cat\t1|human\n", False),               # DSTC-7 scored references
    ("2018 was a year\t3 cats\n", False),             # numbers, but no weights
])
def test_training_tsv_detection(tmp_path, text, expected):
    path = tmp_path / "f.txt"
    path.write_text(text, encoding="utf-8")
    assert looks_like_training_tsv(path) is expected
