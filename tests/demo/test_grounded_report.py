"""The grounded demo's REPORT.md: why BLEU-4 is 0 on 3-word answers, and samples by case."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from dialogpt.demo import grounded_report
from dialogpt.demo.grounded_data import make_records

# Four records (seed 7, one distractor); their responses: "it is fox/rome/yellow/tacos ."
WITH = ["it is fox .", "it is rome .", "it is red .", "it is pizza ."]
WITHOUT = ["it is dog .", "it is rome .", "it is red .", "it is soup ."]
# By hand, normalised "it is X" against "it is Y": with the knowledge 10 of 12 unigrams match,
# 6 of 8 bigrams, 2 of 4 trigrams and there is no 4-gram at all; without it 9/12, 5/8, 1/4.
PRECISIONS = {"with_knowledge": [10 / 12, 6 / 8, 2 / 4, 0.0],
              "without_knowledge": [9 / 12, 5 / 8, 1 / 4, 0.0]}


@pytest.fixture
def written(tmp_path, monkeypatch):
    monkeypatch.setattr(grounded_report, "plot_losses", lambda *args, **kwargs: False)
    records = make_records(4, 7, 1)
    assert [r["Response"].split()[2] for r in records] == ["fox", "rome", "yellow", "tacos"]
    test = tmp_path / "test.jsonl"
    test.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    responses = {}
    for name, lines in (("with_knowledge", WITH), ("without_knowledge", WITHOUT)):
        responses[name] = tmp_path / f"{name}.txt"
        responses[name].write_text("\n".join(lines) + "\n", encoding="utf-8")
    metrics = {name: {"bleu": 0.0, "bleu_precisions": PRECISIONS[name]} for name in PRECISIONS}
    demo = SimpleNamespace(out=tmp_path, train_dir=tmp_path / "train",
                           config=SimpleNamespace(model="tiny"))
    grounded_report.write_grounded_report(demo, {
        "data": {"splits": {"test": str(test)}}, "evaluate": {"metrics": metrics},
        "generate": {"responses": {k: str(v) for k, v in responses.items()}}})
    return (tmp_path / "REPORT.md").read_text(encoding="utf-8"), json.loads(
        (tmp_path / "report.json").read_text(encoding="utf-8"))


def test_the_report_says_why_bleu4_is_zero(written):
    text, _ = written
    assert ("every reference here has at most 3 words (\"it is blue .\" -> \"it is blue\"), so "
            "there is no 4-gram to match: BLEU-4 is 0.00 whatever the answers") in text
    assert ("the 1- to 3-gram precisions are with the knowledge 83.3/75.0/50.0; knowledge "
            "removed 75.0/62.5/25.0 (percent).") in text


def test_samples_are_picked_by_case_and_counted(written):
    text, report = written
    # fox: right with, wrong without; rome: right both ways; yellow and tacos: wrong with it
    assert report["sample_cases"] == {"gained": 1, "both": 1, "missed": 2}
    assert [s["value"] for s in report["samples"]] == ["fox", "rome", "yellow", "tacos"]
    assert ("Of the 4 test records: 1 right with the knowledge, wrong without it; 1 right with "
            "and without the knowledge (a lucky guess without); 2 wrong with the knowledge."
            ) in text
    sections = text.split("### ")[1:]
    assert [s.splitlines()[0] for s in sections] == [
        "Right with the knowledge, wrong without it",
        "Right with and without the knowledge (a lucky guess without)",
        "Wrong with the knowledge"]
    assert "model, with the knowledge: it is fox ." in sections[0]
    assert "model, knowledge removed: it is dog ." in sections[0]


def test_no_bleu_note_when_references_have_four_words():
    assert grounded_report.bleu_note(["the answer is the blue one"], {}) is None
    assert grounded_report.bleu_note(["it is blue ."], {}).endswith("move here.")
