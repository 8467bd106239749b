"""convert_task.py wow: GODEL's records from hand-made ParlAI files, worked out by hand."""

from __future__ import annotations

import json

from task_files import read_jsonl, write_json

from dialogpt.data.tasks import sampling


def turn(speaker, text, checked=None):
    value = {"speaker": speaker, "text": text}
    if checked is not None:
        value["checked_sentence"] = checked
    return value


def plain(topic, n):
    """A dialog of one apprentice turn and one wizard answer."""
    return {"chosen_topic": topic, "persona": f"persona {n}",
            "dialog": [turn("1_Apprentice", f"hi {n}"),
                       turn("0_Wizard", f"about {topic} {n}", {f"{topic}_p": f"{topic} fact {n}"})]}


# File order and topics: A0 B0 A1 C0 E0 D0 B1 A2 E1 C1 F0 E2 (indices 0..11).
# Groups (a topic's first dialog never added): A [2, 7], B [6], C [9], D [], E [8, 11], F [].
# Sorted by size, ties in first-seen order (A B C E D F): A, E, B, C, D, F.
# Positions 1, 3, 5: E, C, F (empty) -> dialogs 8 then 9.
TOPICS = "A B A C E D B A E C F E".split()


def train_data():
    dialogs = [plain(topic, n) for n, topic in enumerate(TOPICS)]
    dialogs[8] = {"chosen_topic": "E", "persona": "p8", "dialog": [
        turn("0_Wizard", " hello there ", {}),
        turn("1_Apprentice", " what? "),
        turn("0_Wizard", "nothing used ", {"no_passages_used": "no_passages_used"})]}
    dialogs[9] = {"chosen_topic": "C", "persona": "p9", "dialog": [
        turn("1_Apprentice", "tell me about c"),
        turn("0_Wizard", "c is great", {"C_para": "C is a letter."}),
        turn("1_Apprentice", "more"),
        turn("0_Wizard", " ok ")]}
    return dialogs


VALID = [{"chosen_topic": "cats", "persona": "i like cats.", "dialog": [
    turn("0_Wizard", " hi! ", {}),
    turn("1_Apprentice", " hello "),
    turn("0_Wizard", "cats purr. ", {"Cat": "Cats purr.", "Dog": "not this"})]}]


def wow_folder(tmp_path, unseen=False):
    folder = tmp_path / "wow"
    write_json(folder / "train.json", train_data())
    write_json(folder / "valid_random_split.json", VALID)
    write_json(folder / "test_random_split.json", VALID[:1] * 2)
    if unseen:
        write_json(folder / "valid_topic_split.json", VALID)
        write_json(folder / "test_topic_split.json", VALID)
    return folder


GODEL_TRAIN = [
    # dialog 8: the opening wizard turn has Context "" (skipped, counted); stripped history
    {"Context": "hello there EOS what?", "Knowledge": "no_passages_used",
     "Response": "nothing used"},
    # dialog 9: no persona in train; a wizard turn without checked_sentence has no knowledge
    {"Context": "tell me about c", "Knowledge": "C is a letter.", "Response": "c is great"},
    {"Context": "tell me about c EOS c is great EOS more", "Knowledge": "", "Response": "ok"},
]
VALID_RECORDS = [
    {"Context": "i like cats.", "Knowledge": "", "Response": "hi!"},
    # valid/test: persona first, turns appended unstripped
    {"Context": "i like cats. EOS  hi!  EOS  hello ", "Knowledge": "Cats purr.",
     "Response": "cats purr."},
]


def test_godel_train_sampling_and_valid_rules(tmp_path, convert):
    out = convert("wow", wow_folder(tmp_path), "--train", "godel")
    assert read_jsonl(out / "train.jsonl") == GODEL_TRAIN
    assert read_jsonl(out / "valid.jsonl") == VALID_RECORDS
    assert read_jsonl(out / "test.jsonl") == VALID_RECORDS * 2
    assert not (out / "valid_unseen.jsonl").exists()
    summary = json.loads((out / "convert.json").read_text())
    assert summary["train"]["sampled_ids"] == ["8", "9"]
    assert summary["train"]["unit"] == "dialog"
    assert summary["splits"]["train"]["skipped"] == {"empty_context": 1}
    assert summary["splits"]["train"]["written"] == 3
    assert summary["splits"]["valid"]["written"] == 2
    assert [source["path"].rsplit("/", 1)[1] for source in summary["sources"]] == [
        "train.json", "valid_random_split.json", "test_random_split.json"]


def test_source_hashes_are_the_files_sha256(tmp_path, convert):
    import hashlib

    folder = wow_folder(tmp_path)
    summary = json.loads((convert("wow", folder) / "convert.json").read_text())
    digest = hashlib.sha256((folder / "train.json").read_bytes()).hexdigest()
    assert summary["sources"][0]["sha256"] == digest


def test_topic_splits_are_written_as_unseen(tmp_path, convert):
    out = convert("wow", wow_folder(tmp_path, unseen=True))
    assert read_jsonl(out / "valid_unseen.jsonl") == VALID_RECORDS
    assert read_jsonl(out / "test_unseen.jsonl") == VALID_RECORDS


def test_train_all_converts_every_dialog_with_train_rules(tmp_path, convert):
    out = convert("wow", wow_folder(tmp_path), "--instruction", "Instruction: be kind.")
    records = read_jsonl(out / "train.jsonl")
    assert len(records) == 10 + 3  # ten plain dialogs, one record each, plus dialogs 8 and 9
    assert records[0] == {"Context": "hi 0", "Knowledge": "A fact 0", "Response": "about A 0",
                          "Instruction": "Instruction: be kind."}
    assert records[8:11] == [{**record, "Instruction": "Instruction: be kind."}
                             for record in GODEL_TRAIN]


def test_godel_ranking_ties_keep_first_seen_order():
    from dialogpt.data.tasks.common import Dialog
    from dialogpt.data.tasks.wow import godel_sample

    # X seen first, Y second; both groups have 1 dialog: X at position 0, Y at position 1.
    dialogs = [Dialog(str(n), topic=topic) for n, topic in enumerate("X Y Y X".split())]
    assert [dialog.id for dialog in godel_sample(dialogs)] == ["2"]


def test_shots_are_whole_dialogs_spread_over_topics_and_reproducible(tmp_path, convert):
    folder = wow_folder(tmp_path)
    first = convert("wow", folder, "--train", "shots", "--shots", "5", "--seed", "3", out="a")
    again = convert("wow", folder, "--train", "shots", "--shots", "5", "--seed", "3", out="b")
    assert (first / "train.jsonl").read_bytes() == (again / "train.jsonl").read_bytes()
    ids = json.loads((first / "convert.json").read_text())["train"]["sampled_ids"]
    assert json.loads((first / "convert.json").read_text())["train"]["seed"] == 3
    assert len(ids) == 5 and ids == sorted(ids, key=int)
    assert len({TOPICS[int(i)] for i in ids}) == 5  # six topics: no topic twice before all once
    dialog_records = {"8": 1, "9": 2}
    assert len(read_jsonl(first / "train.jsonl")) == sum(dialog_records.get(i, 1) for i in ids)


def test_shots_round_robin_takes_every_topic_before_any_twice():
    from dialogpt.data.tasks.common import Dialog

    dialogs = [Dialog(str(n), [{"x": n}], topic) for n, topic in enumerate("A A A A B C".split())]
    for seed in range(20):
        ids = sampling.sample_shots(dialogs, 4, seed).ids
        topics = [dialogs[int(i)].topic for i in ids]
        assert sorted(topics) == ["A", "A", "B", "C"]
