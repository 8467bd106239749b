"""batch_eval.py --refs X.jsonl: line alignment with generate.py's output, skips, both metric sets."""

from __future__ import annotations

import json

import pytest

from dialogpt.cli import run_main
from dialogpt.evaluation.batch_eval import main


def _files(tmp_path, hyps):
    refs = tmp_path / "test.jsonl"
    refs.write_text("\n".join([
        json.dumps({"Context": "a", "Knowledge": "", "Response": "the cat is on the mat"}),
        json.dumps({"Context": "b", "Response": ""}),            # no usable response: skipped
        "not json",                                              # skipped
        json.dumps({"Context": ["c", "d"], "Knowledge": "tea is green",
                    "Response": "I like green tea a lot."}),
    ]) + "\n")
    hyp = tmp_path / "test.resp.txt"
    hyp.write_text("\n".join(hyps) + "\n")
    return refs, hyp


def test_scores_the_usable_records_line_by_line(tmp_path, capsys):
    refs, hyp = _files(tmp_path, ["the cat sat on the mat", "x", "y",
                                  "I like green tea very much."])
    assert main(["--refs", str(refs), "--hyp", str(hyp), "--json", "--no_meteor"]) == 0
    captured = capsys.readouterr()
    scores = json.loads(captured.out)
    # the pairs of test_grounded_metrics: BLEU (0.7 * 0.5 * 1/3 * 0.25) ** 0.25
    assert scores["bleu"] == pytest.approx((0.7 * 0.5 * (1 / 3) * 0.25) ** 0.25)
    assert scores["n_examples"] == 2 and scores["n_lines_skipped"] == 2
    # F1: [cat sat on mat] vs [cat is on mat] 3/4; [i like green tea very much] vs
    # [i like green tea lot]: P 4/6, R 4/5, F1 2*(4/6)(4/5)/(4/6+4/5) = 8/11
    assert scores["f1"] == pytest.approx((0.75 + 8 / 11) / 2)
    # knowledge F1 only where there is knowledge: {green, tea} of 6 and of 3 tokens -> P 2/6,
    # R 2/3, F1 4/9
    assert scores["knowledge_f1"] == pytest.approx(4 / 9) and scores["n_with_knowledge"] == 1
    assert scores["dstc"]["n_lines"] == 2 and scores["dstc"]["meteor"] is None
    assert "test.jsonl:2" in captured.err and "test.jsonl:3" in captured.err


def test_table_output_and_no_dstc(tmp_path, capsys):
    refs, hyp = _files(tmp_path, ["the cat sat on the mat", "", "", "tea"])
    assert main(["--refs", str(refs), "--hyp", str(hyp), "--no_meteor"]) == 0
    out = capsys.readouterr().out
    assert "Knowledge F1" in out and "DSTC-7" in out and "2 records scored" in out
    assert main(["--refs", str(refs), "--hyp", str(hyp), "--no_dstc", "--json"]) == 0
    assert "dstc" not in json.loads(capsys.readouterr().out)


def test_line_count_mismatch_is_an_error(tmp_path, capsys):
    refs, hyp = _files(tmp_path, ["only", "three", "lines"])
    code = run_main(main, ["--refs", str(refs), "--hyp", str(hyp), "--no_meteor"])
    assert code == 2
    assert "has 3 lines but" in capsys.readouterr().err


def test_input_dir_and_format_flag(tmp_path, capsys):
    refs, _ = _files(tmp_path, ["a"])
    renamed = refs.rename(tmp_path / "refs.txt")
    outputs = tmp_path / "outputs"
    outputs.mkdir()
    (outputs / "good.resp.txt").write_text("the cat is on the mat\n\n\nI like green tea a lot.\n")
    (outputs / "bad.resp.txt").write_text("short\n")
    code = run_main(main, ["--refs", str(renamed), "--refs_format", "jsonl", "--input_dir",
                           str(outputs), "--no_meteor", "--json"])
    assert code == 2  # bad.resp.txt has the wrong number of lines; good is still scored
    results = json.loads(capsys.readouterr().out)
    assert results["good"]["bleu"] == pytest.approx(1.0) and results["good"]["f1"] == 1.0
    assert json.loads((outputs / "eval" / "good.grounded.json").read_text())["bleu"] == \
        pytest.approx(1.0)


def test_keys_do_not_apply(tmp_path, capsys):
    refs, hyp = _files(tmp_path, ["a", "b", "c", "d"])
    code = run_main(main, ["--refs", str(refs), "--hyp", str(hyp), "--keys", str(hyp)])
    assert code == 2 and "--keys" in capsys.readouterr().err
