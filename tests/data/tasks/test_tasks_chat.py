"""convert_task.py chat: OpenAI, ShareGPT and column tables (JSON, JSONL, CSV, Parquet), --to tsv."""

from __future__ import annotations

import json

import pytest
from task_files import read_jsonl, write_json, write_jsonl

OPENAI = [
    {"messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello"},
        {"role": "user", "content": [{"type": "text", "text": "how"},
                                     {"type": "text", "text": "are you?"}]},
        {"role": "assistant", "content": "fine"}]},
    {"messages": [
        {"role": "assistant", "content": "I start"},  # nothing before it: not an example
        {"role": "user", "content": "ok"},
        {"role": "assistant", "content": "good", "weight": 0},  # history, not an example
        {"role": "user", "content": "bye"},
        {"role": "assistant", "content": "see you"}]},
    {"messages": [{"role": "user", "content": "x"}, {"role": "tool", "content": "y"}]},
]
OPENAI_RECORDS = [
    {"Context": "hi", "Knowledge": "", "Response": "hello", "Instruction": "Be brief."},
    {"Context": "hi EOS hello EOS how are you?", "Knowledge": "", "Response": "fine",
     "Instruction": "Be brief."},
    {"Context": "I start EOS ok EOS good EOS bye", "Knowledge": "", "Response": "see you",
     "Instruction": "Default."},
]


def summary_of(out):
    return json.loads((out / "convert.json").read_text())


def test_openai_jsonl_system_is_instruction_every_assistant_turn_an_example(tmp_path, convert):
    source = write_jsonl(tmp_path / "chats.jsonl", OPENAI)
    with open(source, "a") as handle:
        handle.write("not json\n")
    out = convert("chat", source, "--instruction", "Default.")
    assert read_jsonl(out / "train.jsonl") == OPENAI_RECORDS
    split = summary_of(out)["splits"]["train"]
    assert split["chat_format"] == "openai"
    assert split["skipped"] == {"bad_json": 1, "no_context": 1, "unsupported_role": 1}


def test_sharegpt_json_list(tmp_path, convert):
    source = write_json(tmp_path / "sharegpt.json", [
        {"id": "c1", "conversations": [{"from": "system", "value": "Be nice."},
                                       {"from": "human", "value": "hi"},
                                       {"from": "gpt", "value": "hello"},
                                       {"from": "human", "value": "a EOS b"},
                                       {"from": "gpt", "value": "ok"}]}])
    out = convert("chat", source)
    assert read_jsonl(out / "train.jsonl") == [
        {"Context": "hi", "Knowledge": "", "Response": "hello", "Instruction": "Be nice."},
        # a turn holding ' EOS ' would split in two: the Context is written as a list
        {"Context": ["hi", "hello", "a EOS b"], "Knowledge": "", "Response": "ok",
         "Instruction": "Be nice."}]
    assert summary_of(out)["splits"]["train"]["chat_format"] == "sharegpt"


TABLE = {"ctx": ["a EOS b", "c"], "kn": ["k1", None], "resp": ["r1", "r2"]}
TABLE_RECORDS = [{"Context": "a EOS b", "Knowledge": "k1", "Response": "r1"},
                 {"Context": "c", "Knowledge": "", "Response": "r2"}]
COLUMNS = ("--context_field", "ctx", "--knowledge_field", "kn", "--response_field", "resp")


def write_table(path, table):
    import pandas as pd

    frame = pd.DataFrame(table)
    if path.suffix == ".csv":
        frame.to_csv(path, index=False)
    elif path.suffix == ".parquet":
        frame.to_parquet(path)
    elif path.suffix == ".jsonl":
        frame.to_json(path, orient="records", lines=True)
    else:
        frame.to_json(path, orient="records")
    return path


@pytest.mark.parametrize("suffix", [".jsonl", ".json", ".csv", ".parquet"])
def test_named_columns_through_datasets(tmp_path, convert, suffix):
    out = convert("chat", write_table(tmp_path / f"table{suffix}", TABLE), *COLUMNS)
    assert read_jsonl(out / "train.jsonl") == TABLE_RECORDS
    assert summary_of(out)["splits"]["train"]["chat_format"] == "columns"


def test_columns_list_context_bad_rows_and_a_missing_column(tmp_path, convert, convert_fails):
    source = write_jsonl(tmp_path / "rows.jsonl", [
        {"Context": ["q1", "a1", "q2"], "Response": "a2", "Instruction": "Mine."},
        {"Context": "hi", "Response": ""}, {"Context": "", "Response": "x"}])
    out = convert("chat", source)
    assert read_jsonl(out / "train.jsonl") == [
        {"Context": ["q1", "a1", "q2"], "Knowledge": "", "Response": "a2", "Instruction": "Mine."}]
    assert summary_of(out)["splits"]["train"]["skipped"] == {"empty_context": 1,
                                                            "empty_response": 1}
    error = convert_fails("chat", source, "--response_field", "answer", out="x")
    assert "no column --response_field answer" in error and "Context, Response" in error


def test_to_tsv_weights_context_zero_response_one(tmp_path, convert):
    source = write_jsonl(tmp_path / "chats.jsonl", OPENAI[:1] + [{"messages": [
        {"role": "user", "content": "two\nlines\there"},
        {"role": "assistant", "content": "ok"}]}, {"messages": [
        {"role": "user", "content": "EOS is a word"}, {"role": "assistant", "content": "no"}]}])
    out = convert("chat", source, "--to", "tsv")
    assert (out / "train.tsv").read_text() == ("0.0 hi\t1.0 hello\n"
                                               "0.0 hi EOS 0.0 hello EOS 0.0 how are you?\t1.0 fine\n"
                                               "0.0 two lines here\t1.0 ok\n")
    split = summary_of(out)["splits"]["train"]
    assert split["notes"] == {"instruction_dropped": 2, "texts_flattened": 1}
    assert split["skipped"] == {"eos_in_turn": 1}  # '0.0 EOS is a word' would split in two


def test_folder_of_splits_and_shots(tmp_path, convert):
    folder = tmp_path / "mine"
    write_jsonl(folder / "train.jsonl", OPENAI[:2] * 3)
    write_jsonl(folder / "validation.jsonl", OPENAI[:1])
    out = convert("chat", folder, "--train", "shots", "--shots", "2", "--seed", "1")
    assert read_jsonl(out / "valid.jsonl") == OPENAI_RECORDS[:2]
    assert not (out / "test.jsonl").exists()
    train = summary_of(out)["train"]
    assert train["unit"] == "dialog" and len(train["sampled_ids"]) == 2 and train["seed"] == 1
