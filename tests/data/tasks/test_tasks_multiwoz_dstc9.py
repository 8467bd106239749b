"""convert_task.py multiwoz and dstc9: GODEL's records from hand-made files, worked out by hand."""

from __future__ import annotations

import json
import random

from task_files import read_jsonl, write_json


def woz_turn(user, system, state, kb, acts):
    return {"user_orig": user, "sys": system, "BS": state, "KB": kb,
            "act": {name: [] for name in acts}}


WOZ_DIALOG = {"file": "SNG01856.json", "info": [
    woz_turn("i need a cheap hotel", " which area ? ", {"hotel": [["pricerange", "cheap"]]}, 0,
             ["hotel-request-area"]),
    woz_turn("north please", "there is one . ",
             {"hotel": [["pricerange", "cheap"], ["area", "north"]],
              "restaurant": [["food", "thai"]]}, 1, ["hotel-inform-choice", "general-reqmore"]),
    woz_turn("ok", "bye", {}, 2, []),
    woz_turn("x", "y", {"taxi": []}, 7, ["general-bye"]),
]}
WOZ_RECORDS = [
    {"Context": "i need a cheap hotel", "Knowledge": "hotel pricerange = cheap | kb zero",
     "Response": "hotel-request-area | which area ?"},
    # counts 1 and 2 as GODEL meant them (its script writes "more than two" for both)
    {"Context": "i need a cheap hotel EOS which area ? EOS north please",
     "Knowledge": "hotel pricerange = cheap ; area = north | restaurant food = thai | kb one",
     "Response": "hotel-inform-choice general-reqmore | there is one ."},
    {"Context": "i need a cheap hotel EOS which area ? EOS north please EOS there is one . EOS ok",
     "Knowledge": " | kb two", "Response": " | bye"},
    {"Context": "i need a cheap hotel EOS which area ? EOS north please EOS there is one . EOS ok "
                "EOS bye EOS x", "Knowledge": "taxi  | kb more than two",
     "Response": "general-bye | y"},
]


def test_multiwoz_knowledge_string_acts_and_count_words(tmp_path, convert):
    folder = tmp_path / "woz"
    for name in ("train", "val", "test"):
        write_json(folder / f"{name}.json", [WOZ_DIALOG, {"file": "broken.json"}])
    out = convert("multiwoz", folder)
    for split in ("train", "valid", "test"):
        assert read_jsonl(out / f"{split}.jsonl") == WOZ_RECORDS
    summary = json.loads((out / "convert.json").read_text())
    assert summary["splits"]["valid"]["skipped"] == {"missing_info": 1}
    assert summary["splits"]["train"]["dialogs"] == 1


KNOWLEDGE = {"hotel": {"1": {"name": "A", "docs": {"0": {"title": "Pets?", "body": "No pets."},
                                                  "1": {"title": "Wifi?", "body": "Yes."}}}},
             "taxi": {"*": {"docs": {"0": {"title": "Card?", "body": "Cards ok."}}}}}


def said(*texts):
    return [{"speaker": "U" if n % 2 == 0 else "S", "text": text} for n, text in enumerate(texts)]


TRAIN_LOGS = [said("can i bring my dog?"), said("hi"),
              said("need a taxi", "where to?", "can i pay by card?")]
TRAIN_LABELS = [
    {"target": True, "response": "No pets, but wifi.",
     "knowledge": [{"domain": "hotel", "entity_id": 1, "doc_id": 0},
                   {"domain": "hotel", "entity_id": 1, "doc_id": 1}]},
    {"target": False},
    {"target": True, "response": "Yes.", "knowledge": [{"domain": "taxi", "entity_id": "*",
                                                        "doc_id": 0}]},
]
TRAIN_RECORDS = [
    {"Context": "can i bring my dog?", "Knowledge": "Q: Pets? A: No pets. Q: Wifi? A: Yes.",
     "Response": "No pets, but wifi."},
    {"Context": "need a taxi EOS where to? EOS can i pay by card?",
     "Knowledge": "Q: Card? A: Cards ok.", "Response": "Yes."},
]
VAL_LOGS = [said("is there wifi?"), said("any pets?")]
VAL_LABELS = [{"target": True, "response": "Yes.",
               "knowledge": [{"domain": "hotel", "entity_id": 1, "doc_id": 1}]},
              {"target": True, "response": "?",
               "knowledge": [{"domain": "hotel", "entity_id": 9, "doc_id": 0}]}]


def dstc9_folder(tmp_path, train_logs=TRAIN_LOGS, train_labels=TRAIN_LABELS):
    folder = tmp_path / "dstc9"
    write_json(folder / "knowledge.json", KNOWLEDGE)
    write_json(folder / "train" / "logs.json", train_logs)
    write_json(folder / "train" / "labels.json", train_labels)
    write_json(folder / "val" / "logs.json", VAL_LOGS)
    write_json(folder / "val" / "labels.json", VAL_LABELS)
    return folder


def test_dstc9_records_and_no_train_examples_in_valid(tmp_path, convert):
    out = convert("dstc9", dstc9_folder(tmp_path))
    assert read_jsonl(out / "train.jsonl") == TRAIN_RECORDS
    # GODEL's script would also write both train records into its val file
    assert read_jsonl(out / "valid.jsonl") == [
        {"Context": "is there wifi?", "Knowledge": "Q: Wifi? A: Yes.", "Response": "Yes."}]
    assert not (out / "test.jsonl").exists()
    summary = json.loads((out / "convert.json").read_text())
    assert summary["splits"]["valid"]["skipped"] == {"unknown_knowledge": 1}
    assert summary["splits"]["train"]["not_target"] == 1
    assert len({source["path"] for source in summary["sources"]}) == 5  # knowledge.json once


def test_dstc9_godel_train_is_its_2022_seeded_draw(tmp_path, convert):
    logs, labels = TRAIN_LOGS[:1] * 300, TRAIN_LABELS[:1] * 300
    out = convert("dstc9", dstc9_folder(tmp_path, logs, labels), "--train", "godel")
    rng = random.Random(2022)  # its script: random.seed(2022), one draw per train example
    expected = [f"{n}:0" for n in range(300) if rng.random() < 0.025]
    summary = json.loads((out / "convert.json").read_text())
    assert summary["train"]["sampled_ids"] == expected and summary["train"]["seed"] == 2022
    assert len(read_jsonl(out / "train.jsonl")) == len(expected) > 0


def test_dstc9_test_split_converted_when_present(tmp_path, convert):
    folder = dstc9_folder(tmp_path)
    write_json(folder / "test" / "logs.json", TRAIN_LOGS[2:])
    write_json(folder / "test" / "labels.json", TRAIN_LABELS[2:])
    out = convert("dstc9", folder)
    assert read_jsonl(out / "test.jsonl") == TRAIN_RECORDS[1:]
