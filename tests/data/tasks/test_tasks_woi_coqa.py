"""convert_task.py woi and coqa: GODEL's records from hand-made files, and seeded sampling."""

from __future__ import annotations

import json
import random

from task_files import read_jsonl, write_jsonl


def woi_turn(action, text, contents=None, selected=None):
    context = {} if contents is None else {"contents": [{"content": doc, "url": "u"}
                                                        for doc in contents],
                                           "selected_contents": selected}
    return {"action": action, "text": text, "context": context}


WOI_DIALOG = {"d1": {"apprentice_persona": "I love\nhiking.", "dialog_history": [
    woi_turn("Apprentice => Wizard", " Any trails? "),
    woi_turn("Wizard => SearchAgent", "trails"),
    woi_turn("SearchAgent => Wizard", "", [["ignored"]], [[False], [True]]),
    # flags after the first ("none") flag: F T | T F T -> S2. T1. T3.
    woi_turn("Wizard => Apprentice", " Try the Alps. ",
             [["S1.", "S2."], ["T1.", "T2.", "T3."]], [[False], [False, True], [True, False, True]]),
    woi_turn("Apprentice => Wizard", "Thanks"),
    woi_turn("Wizard => Apprentice", "Welcome", [], [[True]]),
]}}
WOI_RECORDS = [
    {"Context": "I love hiking. EOS Any trails?", "Knowledge": "S2. T1. T3.",
     "Response": "Try the Alps."},
    {"Context": "I love hiking. EOS Any trails? EOS Try the Alps. EOS Thanks", "Knowledge": "",
     "Response": "Welcome"},
]


def woi_folder(tmp_path, train_lines):
    folder = tmp_path / "woi"
    write_jsonl(folder / "train.jsonl", train_lines)
    write_jsonl(folder / "valid.jsonl", [WOI_DIALOG])
    with open(folder / "valid.jsonl", "a") as handle:
        handle.write("{not json\n")
        bad = json.loads(json.dumps(WOI_DIALOG))
        bad["d1"]["dialog_history"][3]["context"]["selected_contents"] = "yes"
        handle.write(json.dumps({"d2": bad["d1"]}) + "\n")
    write_jsonl(folder / "test.jsonl", [WOI_DIALOG, WOI_DIALOG])
    return folder


def test_woi_records_search_turns_skipped_knowledge_offset(tmp_path, convert):
    out = convert("woi", woi_folder(tmp_path, [WOI_DIALOG]))
    assert read_jsonl(out / "train.jsonl") == WOI_RECORDS
    assert read_jsonl(out / "valid.jsonl") == WOI_RECORDS
    assert read_jsonl(out / "test.jsonl") == WOI_RECORDS * 2
    summary = json.loads((out / "convert.json").read_text())
    assert summary["splits"]["valid"]["skipped"] == {"bad_json": 1, "bad_selected_contents": 1}
    assert summary["splits"]["valid"]["dialogs"] == 1


def test_fraction_is_a_seeded_draw_per_train_example_in_order(tmp_path, convert):
    lines = [{f"d{n}": WOI_DIALOG["d1"]} for n in range(30)]
    folder = woi_folder(tmp_path, lines)
    out = convert("woi", folder, "--train", "fraction", "--fraction", "0.3", "--seed", "11")
    rng = random.Random(11)  # GODEL's rule `random.random() < f` per example, seeded
    expected = [f"d{n}:{k}" for n in range(30) for k in range(2) if rng.random() < 0.3]
    summary = json.loads((out / "convert.json").read_text())
    assert summary["train"] == {"mode": "fraction", "fraction": 0.3, "shots": None, "seed": 11,
                                "unit": "example", "sampled_ids": expected}
    records = read_jsonl(out / "train.jsonl")
    assert records == [WOI_RECORDS[int(i[-1])] for i in expected]
    again = convert("woi", folder, "--train", "fraction", "--fraction", "0.3", "--seed", "11",
                    out="again")
    assert (again / "train.jsonl").read_bytes() == (out / "train.jsonl").read_bytes()
    other = convert("woi", folder, "--train", "fraction", "--fraction", "0.3", "--seed", "12",
                    out="other")
    assert (other / "train.jsonl").read_bytes() != (out / "train.jsonl").read_bytes()


def test_godel_mode_is_the_0_6_percent_draw_with_the_seed(tmp_path, convert):
    lines = [{f"d{n}": WOI_DIALOG["d1"]} for n in range(400)]
    out = convert("woi", woi_folder(tmp_path, lines), "--train", "godel", "--seed", "5")
    rng = random.Random(5)
    expected = [f"d{n}:{k}" for n in range(400) for k in range(2) if rng.random() < 0.006]
    train = json.loads((out / "convert.json").read_text())["train"]
    assert train["sampled_ids"] == expected
    assert (train["fraction"], train["seed"]) == (0.006, 5)


COQA_SOURCE = ("story one. || <Q> what is it ?\n"
               "\n"
               "story one. || <Q1> what is it ? <A1> a story <Q> and ?\n"
               "a line without the separator\n"
               "story two. || <Q> who ?\n")
COQA_TARGET = "a story\n  more \nx\n\nme\nextra\n"
COQA_RECORDS = [
    # the line is stripped, then split on '||': the story keeps its trailing space, the
    # question its leading one
    {"Context": " <Q> what is it ?", "Knowledge": "story one. ", "Response": "a story"},
    {"Context": " <Q1> what is it ? <A1> a story <Q> and ?", "Knowledge": "story one. ",
     "Response": "more"},
    {"Context": " <Q> who ?", "Knowledge": "story two. ", "Response": "me"},
]


def coqa_folder(tmp_path):
    folder = tmp_path / "coqa"
    folder.mkdir()
    for split in ("train", "dev"):
        (folder / f"seq2seq-{split}-h2-src.txt").write_text(COQA_SOURCE)
        (folder / f"seq2seq-{split}-h2-tgt.txt").write_text(COQA_TARGET)
    return folder


def test_coqa_split_on_bars_dev_written_as_valid(tmp_path, convert):
    out = convert("coqa", coqa_folder(tmp_path))
    assert read_jsonl(out / "train.jsonl") == COQA_RECORDS
    assert read_jsonl(out / "valid.jsonl") == COQA_RECORDS
    assert sorted(path.name for path in out.iterdir()) == ["convert.json", "train.jsonl",
                                                           "valid.jsonl"]
    summary = json.loads((out / "convert.json").read_text())
    assert summary["splits"]["valid"]["skipped"] == {"bad_source_line": 1, "no_source": 1}
    assert summary["splits"]["train"]["dialogs"] == 2  # consecutive lines of one story


def test_coqa_shots_draw_whole_stories(tmp_path, convert):
    out = convert("coqa", coqa_folder(tmp_path), "--train", "shots", "--shots", "1", "--seed",
                  "0")
    ids = json.loads((out / "convert.json").read_text())["train"]["sampled_ids"]
    assert len(ids) == 1
    assert read_jsonl(out / "train.jsonl") == (COQA_RECORDS[:2] if ids == ["0"]
                                               else COQA_RECORDS[2:])
