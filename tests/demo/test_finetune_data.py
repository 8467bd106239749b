"""The few-shot demo's synthetic WoW data and its table/curve code (fast)."""

from __future__ import annotations

import json

import pytest

from dialogpt.demo import finetune_data as fd
from dialogpt.demo import finetune_report as fr
from dialogpt.demo.grounded_data import ATTRIBUTES as PRETRAINED_ATTRIBUTES


def test_dialogs_are_parlai_wow_with_the_answer_only_in_the_checked_sentence():
    dialogs = fd.make_dialogs(20, seed=3)
    assert dialogs == fd.make_dialogs(20, seed=3) and dialogs != fd.make_dialogs(20, seed=4)
    for dialog in dialogs:
        assert set(dialog) >= {"chosen_topic", "persona", "dialog"}
        turns = dialog["dialog"]
        assert [("Wizard" in t["speaker"]) for t in turns] == [False, True] * len(fd.ATTRIBUTES)
        asked = set()
        for question, answer in zip(turns[::2], turns[1::2]):
            (fact,) = answer["checked_sentence"].values()
            person, value = dialog["chosen_topic"], fd.answer_value(fact)
            assert fact.startswith(f"{person} 's ") and value != person
            assert answer["text"] == f"it is {value} ."          # the value the fact gives
            assert fd.answer_value(answer["text"]) == value
            assert value not in question["text"]                # only the knowledge has it
            attribute = fact[len(f"{person} 's "):-len(f" is {value} .")]
            assert value in fd.ATTRIBUTES[attribute]
            asked.add(attribute)
        assert asked == set(fd.ATTRIBUTES)                      # each attribute once


def test_the_attributes_are_new_but_their_values_are_copied_words():
    assert not set(PRETRAINED_ATTRIBUTES) & set(fd.ATTRIBUTES)
    pretrained_words = {word for name in PRETRAINED_ATTRIBUTES for word in name.split()}
    for attribute, values in fd.ATTRIBUTES.items():
        assert not set(attribute.split()) & pretrained_words   # no "city" or "color" hint
        assert values in PRETRAINED_ATTRIBUTES.values()          # one kind of copied word each


def test_files_are_written_identically(tmp_path):
    spec = fd.WowSpec(n_train=5, n_valid=2, n_test=3, seed=9)
    paths = fd.write_wow_files(tmp_path / "a", spec)
    again = fd.write_wow_files(tmp_path / "b", spec)
    assert sorted(p.name for p in paths.values()) == sorted(fd.FILES.values())
    for split, path in paths.items():
        assert path.read_bytes() == again[split].read_bytes()
        assert len(json.loads(path.read_text())) == spec.size(split)


METRICS = {
    "zero-shot": {"answer_accuracy": 0.1, "knowledge_f1": 0.25, "f1": 0.2, "bleu": 0.0},
    "k10-full": {"answer_accuracy": 0.5, "knowledge_f1": 0.6, "f1": 0.55, "bleu": 0.3},
    "k10-lora": {"answer_accuracy": 0.3, "knowledge_f1": None, "f1": 0.4, "bleu": 0.1},
    "k200-full": {"answer_accuracy": 0.9, "knowledge_f1": 0.95, "f1": 0.9, "bleu": 0.8},
}


def test_table_rows_and_markdown():
    rows = fr.table_rows(METRICS)
    assert rows[0] == ["zero-shot", "0", "none", "10.00", "25.00", "20.00", "0.00"]
    assert rows[2] == ["k10-lora", "10", "lora", "30.00", "n/a", "40.00", "10.00"]
    table = fr.markdown_table(METRICS).splitlines()
    assert table[0].startswith("| System | Dialogs | Tuned | Answer acc.")
    assert len(table) == 2 + len(METRICS)
    assert fr.parse_run("k50-lora") == (50, "lora") and fr.parse_run("zero-shot") is None


def test_curves_start_at_zero_shot_and_sort_by_k():
    metrics = {"k200-full": METRICS["k200-full"], **METRICS}
    assert fr.curves(metrics, "answer_accuracy") == {
        "full": ([0, 10, 200], [0.1, 0.5, 0.9]), "lora": ([0, 10], [0.1, 0.3])}
    assert "lora" not in fr.curves(METRICS, "knowledge_f1")   # no value, no line


def test_plot_writes_a_png_when_matplotlib_is_there(tmp_path):
    pytest.importorskip("matplotlib")
    path = tmp_path / "curve.png"
    assert fr.plot_curve(METRICS, path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
