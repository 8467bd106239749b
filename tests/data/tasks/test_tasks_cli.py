"""convert_task.py as a command: wrong formats named, flags checked, atomic output, records that
the rest of the toolkit reads (parse_record, prepro.py --corpus)."""

from __future__ import annotations

import json

import pytest
from task_files import read_jsonl, write_json, write_jsonl
from test_tasks_multiwoz_dstc9 import dstc9_folder
from test_tasks_wow import VALID, train_data, wow_folder


def test_wow_given_json_lines_says_what_was_expected(tmp_path, convert_fails):
    folder = tmp_path / "wow"
    write_jsonl(folder / "train.json", train_data())
    error = convert_fails("wow", folder)
    assert "train.json:2: not a JSON document (it looks like JSON lines" in error
    assert "expected ParlAI's Wizard of Wikipedia JSON" in error


def test_wow_top_level_object_and_foreign_records(tmp_path, convert_fails):
    folder = tmp_path / "wow"
    write_json(folder / "train.json", {"dialogs": []})
    assert "top level is a JSON dict, not a list" in convert_fails("wow", folder)
    write_json(folder / "train.json", [{"messages": []}, {"messages": []}])
    error = convert_fails("wow", folder)
    assert "no dialog in the expected format (missing_dialog 2)" in error
    assert "chosen_topic, persona and dialog" in error


def test_a_folder_of_another_dataset_names_the_files_expected(tmp_path, convert_fails):
    folder = wow_folder(tmp_path)
    error = convert_fails("woi", folder)
    assert "no " + str(folder / "train.jsonl") in error
    assert "the woi task reads train.jsonl, valid.jsonl, test.jsonl there" in error


def test_json_lines_task_given_one_json_document(tmp_path, convert_fails):
    folder = tmp_path / "woi"
    (folder).mkdir()
    (folder / "train.jsonl").write_text(json.dumps(VALID, indent=1))
    assert "is one JSON document, not JSON lines; expected ParlAI's Wizard of the Internet" \
        in convert_fails("woi", folder)


def test_dstc9_logs_and_labels_must_pair(tmp_path, convert_fails):
    folder = dstc9_folder(tmp_path)
    write_json(folder / "val" / "labels.json", [{"target": False}])
    error = convert_fails("dstc9", folder)
    assert "has 2 logs but" in error and "has 1 labels" in error


def test_coqa_source_without_bars(tmp_path, convert_fails):
    folder = tmp_path / "coqa"
    folder.mkdir()
    for name in ("train-h2-src", "train-h2-tgt", "dev-h2-src", "dev-h2-tgt"):
        (folder / f"seq2seq-{name}.txt").write_text("plain text\n")
    assert "no '||' in its first lines" in convert_fails("coqa", folder)


def test_chat_unknown_suffix(tmp_path, convert_fails):
    source = tmp_path / "chats.txt"
    source.write_text("hello\n")
    error = convert_fails("chat", source)
    assert "unknown kind of file .txt; expected one of .jsonl, .json, .csv, .parquet" in error


@pytest.mark.parametrize("flags, message", [
    (["--fraction", "0.1"], "--fraction goes with --train fraction"),
    (["--train", "fraction"], "--fraction goes with --train fraction"),
    (["--train", "fraction", "--fraction", "1.5"], "--fraction must be in (0, 1]"),
    (["--train", "shots", "--shots", "0"], "--shots must be >= 1"),
    (["--context_field", "q"], "--context_field only apply to the chat task"),
])
def test_flags_checked_before_any_work(tmp_path, convert_fails, flags, message):
    assert message in convert_fails("wow", wow_folder(tmp_path), *flags)


def test_chat_has_no_godel_sampling_and_shots_beyond_the_data(tmp_path, convert_fails):
    source = write_jsonl(tmp_path / "c.jsonl", [{"messages": [
        {"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]}])
    assert "--train godel is a GODEL dataset's own sampling" in convert_fails(
        "chat", source, "--train", "godel")
    assert "--shots 2: the train split has only 1 dialogs" in convert_fails(
        "chat", source, "--train", "shots", "--shots", "2")


def test_existing_output_kept_unless_force(tmp_path, convert, capsys):
    from dialogpt.cli import run_main
    from dialogpt.data.tasks.cli import main

    folder = wow_folder(tmp_path)
    out = convert("wow", folder)
    (out / "mine.txt").write_text("keep")
    assert run_main(main, ["wow", "--input", str(folder), "--output", str(out)]) == 2
    assert "exists; pass --force" in capsys.readouterr().err
    assert (out / "mine.txt").read_text() == "keep"
    convert("wow", folder, "--force")
    assert not (out / "mine.txt").exists() and (out / "train.jsonl").is_file()


def test_a_failure_while_writing_leaves_nothing_behind(tmp_path, monkeypatch):
    from dialogpt.data.tasks import output
    from dialogpt.data.tasks.cli import main

    real = output.write_split

    def fail_on_valid(directory, name, *args):
        if name == "valid":
            raise OSError("simulated failure")
        return real(directory, name, *args)

    monkeypatch.setattr(output, "write_split", fail_on_valid)
    with pytest.raises(OSError, match="simulated"):
        main(["wow", "--input", str(wow_folder(tmp_path)), "--output", str(tmp_path / "out")])
    assert sorted(path.name for path in tmp_path.iterdir()) == ["wow"]


def test_records_load_with_parse_record_and_build_a_db(tmp_path, convert, t5_tokenizer_dir):
    from dialogpt.data.db_seq2seq import Seq2SeqDB
    from dialogpt.data.prepro import main as prepro
    from dialogpt.grounding import parse_record

    out = convert("wow", wow_folder(tmp_path), "--instruction", "Instruction: ground it.")
    records = read_jsonl(out / "train.jsonl")
    parsed = [parse_record(record) for record in records]
    assert parsed[0].instruction == "Instruction: ground it." and parsed[0].turns == ("hi 0",)
    assert prepro(["--corpus", str(out / "train.jsonl"), "--tokenizer", str(t5_tokenizer_dir),
                   "--workers", "1", "--output", str(tmp_path / "train.db")]) == 0
    assert len(Seq2SeqDB(tmp_path / "train.db")) == len(records) == 13


def test_help_states_every_default(capsys):
    from dialogpt.data.tasks.cli import main

    with pytest.raises(SystemExit):
        main(["--help"])
    import re

    entries = re.split(r"\n  (?=--)", capsys.readouterr().out)
    helps = {entry.split()[0]: " ".join(entry.split()) for entry in entries[1:]}
    for flag, default in [("--train", "all"), ("--seed", "0"), ("--to", "jsonl"),
                          ("--chat_format", "auto"), ("--context_field", "Context"),
                          ("--response_field", "Response"), ("--force", "False")]:
        assert f"(default: {default})" in helps[flag], flag
    assert "(no default)" in helps["--fraction"] and "(default: none)" in helps["--instruction"]
