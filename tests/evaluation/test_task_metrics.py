"""Per-task metrics (CoQA's official EM/F1, MultiWOZ's act F1) worked by hand; batch_eval --task."""

from __future__ import annotations

import json

import pytest

from dialogpt.cli import run_main
from dialogpt.evaluation import task_metrics as tm
from dialogpt.evaluation.batch_eval import main


def test_coqa_normalisation_deletes_punctuation_unlike_godels():
    from dialogpt.evaluation.grounded_metrics import normalize_answer

    # lower; punctuation deleted ("cat's" -> "cats"); "the" -> space; whitespace collapsed
    assert tm.coqa_normalize("The Cat's  hat, isn't it?") == "cats hat isnt it"
    assert normalize_answer("The Cat's  hat, isn't it?") == "cat s hat isn t it"
    assert tm.coqa_normalize("An apple a day") == "apple day"


def test_coqa_f1_and_exact_single_gold():
    # [white, cat] vs [white, dog]: 1 common, P = R = 1/2
    assert tm.coqa_f1("a white cat", "the white dog") == pytest.approx(0.5)
    assert tm.coqa_exact("The white cat.", "white cat") == 1.0
    assert tm.coqa_f1("", "") == 1.0 and tm.coqa_f1("a", "an") == 1.0  # both empty: agree
    assert tm.coqa_f1("the", "x") == 0.0                                  # one empty
    assert tm.coqa_turn_score(["white cat"], "white") == (0.0, pytest.approx(2 / 3))


def test_coqa_several_golds_average_the_leave_one_out_best():
    golds = ["white", "white cat", "black"]
    # F1 of "white cat" against each: 2/3 (P 1/2, R 1), 1, 0
    # leave out 0: max(1, 0) = 1; leave out 1: max(2/3, 0) = 2/3; leave out 2: max(2/3, 1) = 1
    exact, f1 = tm.coqa_turn_score(golds, "white cat")
    assert f1 == pytest.approx((1 + 2 / 3 + 1) / 3)
    assert exact == pytest.approx((1 + 0 + 1) / 3)
    scores = tm.coqa_scores(["white cat", "dog"], [golds, ["a dog"]])
    assert scores["coqa_f1"] == pytest.approx(((1 + 2 / 3 + 1) / 3 + 1) / 2)
    assert scores["coqa_em"] == pytest.approx((2 / 3 + 1) / 2)


def test_multiwoz_act_f1_is_micro_over_turns():
    hyps = ["restaurant-inform general-reqmore | [restaurant_name] is nice",
            "no acts here"]
    refs = ["restaurant-inform restaurant-recommend | [restaurant_name] is nice .",
            "general-bye | bye"]
    # hits 1 of 2 predicted and of 3 gold: P 1/2, R 1/3, F1 2 (1/6) / (5/6) = 2/5
    scores = tm.act_f1(hyps, refs)
    assert scores == pytest.approx({"act_precision": 0.5, "act_recall": 1 / 3, "act_f1": 0.4})
    assert tm.split_act_response("a b | x | y") == (frozenset({"a", "b"}), "x | y")


def test_multiwoz_text_bleu_ignores_the_acts():
    hyps = ["general-bye | have a nice day and goodbye now"]
    refs = ["general-welcome general-bye | have a nice day and goodbye now"]
    scores = tm.multiwoz_scores(hyps, refs)
    assert scores["text_bleu"] == pytest.approx(1.0)
    assert scores["act_f1"] == pytest.approx(2 * 1 * 0.5 / 1.5)   # P 1, R 1/2
    assert scores["inform"] is None and "goal" in scores["inform_success_note"]


def test_other_tasks_add_nothing_and_unknown_is_refused():
    assert tm.task_scores("wow", ["a"], ["a"]) == {}
    assert tm.task_scores(None, ["a"], ["a"]) == {}
    with pytest.raises(ValueError):
        tm.task_scores("squad", ["a"], ["a"])


def _write(tmp_path, records, hyps, task=None):
    refs = tmp_path / "valid.jsonl"
    refs.write_text("".join(json.dumps(r) + "\n" for r in records))
    hyp = tmp_path / "valid.resp.txt"
    hyp.write_text("".join(h + "\n" for h in hyps))
    if task:
        (tmp_path / "convert.json").write_text(json.dumps({"task": task}))
    return ["--refs", str(refs), "--hyp", str(hyp), "--no_dstc"]


def test_batch_eval_reads_the_task_from_convert_json(tmp_path, capsys):
    records = [{"Context": "q1", "Knowledge": "story", "Response": "a white cat"},
               {"Context": "q2", "Knowledge": "story", "Response": "Yes."}]
    argv = _write(tmp_path, records, ["the white dog", "no"], task="coqa")
    assert main(argv + ["--json"]) == 0
    scores = json.loads(capsys.readouterr().out)
    assert scores["task"] == "coqa"
    assert scores["coqa_f1"] == pytest.approx((0.5 + 0) / 2) and scores["coqa_em"] == 0.0
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert out.startswith("Task: coqa") and "CoQA F1" in out and "| 25.00" in out


def test_batch_eval_multiwoz_table_says_why_no_inform_success(tmp_path, capsys):
    records = [{"Context": "hi", "Knowledge": "restaurant area = centre | kb zero",
                "Response": "restaurant-nooffer | sorry , there is no such place in town ."}]
    argv = _write(tmp_path, records, [records[0]["Response"]])
    assert main(argv + ["--task", "multiwoz"]) == 0
    out = capsys.readouterr().out
    assert "Act F1" in out and "| n/a" in out and "user goal" in out
    assert main(argv + ["--task", "multiwoz", "--json"]) == 0
    scores = json.loads(capsys.readouterr().out)
    assert scores["act_f1"] == 1.0 and scores["text_bleu"] == pytest.approx(1.0)


def test_task_needs_jsonl_references(tmp_path, capsys):
    refs = tmp_path / "refs.txt"
    refs.write_text("k1\t1.0|a b c\n")
    hyp = tmp_path / "hyp.txt"
    hyp.write_text("a b c\n")
    code = run_main(main, ["--refs", str(refs), "--hyp", str(hyp), "--task", "coqa",
                           "--no_meteor"])
    assert code == 2 and "--task needs JSONL references" in capsys.readouterr().err
