"""prepro.py on GODEL JSONL: template strings byte for byte, T5 ids, bad lines, cuts, workers."""

from __future__ import annotations

import json

import pytest

from dialogpt.cli import run_main
from dialogpt.data.db_open import open_db
from dialogpt.data.db_seq2seq import Seq2SeqDB
from dialogpt.data.prepro import main

INSTRUCTION = "Instruction: answer from the knowledge."


@pytest.fixture(scope="module")
def tok(t5_tokenizer_dir):
    from dialogpt.tokenization import load_tokenizer

    return load_tokenizer(str(t5_tokenizer_dir))


def _write(path, *records):
    with open(path, "wb") as out:
        for record in records:
            out.write(record if isinstance(record, bytes) else
                      (json.dumps(record) + "\n").encode())
    return path


def _prepro(t5_tokenizer_dir, corpus, *flags):
    return main(["--corpus", str(corpus), "--tokenizer", str(t5_tokenizer_dir), "--workers", "1",
                 *flags])


def _inspect(capsys, target, *flags):
    capsys.readouterr()
    assert main(["--inspect", str(target), *flags]) == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


RECORD = {"Context": "hi ! EOS what is tom 's pet ?", "Knowledge": "tom 's pet is fox .",
          "Response": "it is fox ."}


def test_card_template_ids_are_the_tokenizers_ids_of_the_literal_source(
        tmp_path, capsys, tok, t5_tokenizer_dir):
    corpus = _write(tmp_path / "train.jsonl", RECORD,
                    {**RECORD, "Instruction": "Instruction: mine.", "Knowledge": ""})
    assert _prepro(t5_tokenizer_dir, corpus, "--instruction", INSTRUCTION) == 0
    db_path = tmp_path / "train.512src128tgt.card.db"
    first, second = _inspect(capsys, db_path)
    source_1 = ("Instruction: answer from the knowledge. [CONTEXT] hi ! EOS what is tom 's pet ? "
                "[KNOWLEDGE] tom 's pet is fox .")
    source_2 = "Instruction: mine. [CONTEXT] hi ! EOS what is tom 's pet ? "  # own instruction
    assert first["input_ids"] == tok(source_1).input_ids and first["input_ids"][-1] == 1
    assert second["input_ids"] == tok(source_2).input_ids
    assert first["labels"] == second["labels"] == tok(text_target="it is fox .").input_ids
    assert first["labels"][-1] == 1 and first["target"] == "it is fox .</s>"
    rows = _inspect(capsys, corpus, "--tokenizer", str(t5_tokenizer_dir), "--instruction",
                    INSTRUCTION)
    assert [row["source"] for row in rows] == [source_1, source_2]  # byte for byte
    db = open_db(db_path)
    assert isinstance(db, Seq2SeqDB)
    manifest = db.manifest
    assert manifest["kind"] == "seq2seq" and manifest["template"] == "card"
    assert manifest["instruction"] == INSTRUCTION and manifest["pad_id"] == 0
    assert (manifest["max_source_len"], manifest["max_target_len"]) == (512, 128)
    assert manifest["knowledge_budget"] == 256 and manifest["eos_id"] == 1
    from dialogpt.tokenization import tokenizer_fingerprint
    assert manifest["tokenizer_fingerprint"] == tokenizer_fingerprint(tok)
    assert manifest["tokenizer"] == str(t5_tokenizer_dir)


def test_repo_template(tmp_path, capsys, tok, t5_tokenizer_dir):
    corpus = _write(tmp_path / "train.jsonl", RECORD, {**RECORD, "Knowledge": ""})
    assert _prepro(t5_tokenizer_dir, corpus, "--template", "repo") == 0
    rows = _inspect(capsys, tmp_path / "train.512src128tgt.repo.db")
    assert rows[0]["input_ids"] == tok(
        "hi ! EOS what is tom 's pet ? <|Knowledge|> tom 's pet is fox . => ").input_ids
    assert rows[1]["input_ids"] == tok("hi ! EOS what is tom 's pet ? => ").input_ids


BAD_LINES = [
    (b"[1, 2]\n", "not_object"),
    (b'{"Knowledge": "", "Response": "r"}\n', "missing_context"),
    (b'{"Context": "a"}\n', "missing_response"),
    (b'{"Context": "a", "Response": "  "}\n', "empty_response"),
    (b'{"Context": "a", "Knowledge": 5, "Response": "r"}\n', "wrong_type"),
    (b'{"Context": ["a", 3], "Response": "r"}\n', "wrong_type"),
    (b'{"Context": " EOS  ", "Response": "r"}\n', "empty_context"),
    (b'{"Context": [], "Response": "r"}\n', "empty_context"),
    (b'{"Context": "caf\xe9", "Response": "r"}\n', "non_utf8"),
    (b'{"Context": "a", "Response": "r"\n', "bad_json"),
    (b"\n", "blank_line"),
]


def test_every_bad_line_is_skipped_and_counted_with_its_line_number(tmp_path, t5_tokenizer_dir):
    good_string = {"Context": "a EOS b", "Response": "r"}
    good_list = {"Context": ["a", "b"], "Knowledge": "", "Response": "r"}
    corpus = _write(tmp_path / "mixed.jsonl", good_string,
                    *[line for line, _ in BAD_LINES], good_list)
    assert _prepro(t5_tokenizer_dir, corpus) == 0
    db_path = tmp_path / "mixed.512src128tgt.card.db"
    summary = json.loads((db_path / "summary.json").read_text())
    expected = {}
    for number, (_, reason) in enumerate(BAD_LINES, start=2):
        expected.setdefault(reason, []).append(number)
    assert {reason: entry["first_lines"] for reason, entry in summary["skipped"].items()} == \
        expected
    assert summary["lines_read"] == len(BAD_LINES) + 2
    assert summary["lines_written"] == 2 and summary["lines_skipped"] == len(BAD_LINES)
    db = open_db(db_path)
    # a Context string and a Context list of the same turns give the same source
    assert db[0][0].tolist() == db[1][0].tolist()


@pytest.mark.parametrize("line, reason", BAD_LINES)
def test_strict_names_file_and_line(tmp_path, capsys, t5_tokenizer_dir, line, reason):
    corpus = _write(tmp_path / "bad.jsonl", {"Context": "a", "Response": "r"}, line)
    code = run_main(main, ["--corpus", str(corpus), "--tokenizer", str(t5_tokenizer_dir),
                           "--workers", "1", "--strict"])
    assert code == 2
    assert f"{corpus}:2:" in capsys.readouterr().err
    assert not (tmp_path / "bad.512src128tgt.card.db").exists()


def test_cuts_follow_the_policy_and_are_counted(tmp_path, capsys, tok, t5_tokenizer_dir):
    kept = " [CONTEXT] what is tom 's pet ? [KNOWLEDGE] tom 's pet is fox ."  # no instruction
    limit = len(tok(kept).input_ids)  # the newest turn and the knowledge fit exactly
    record = {"Context": "hi ! EOS hello , what would you like to know ? EOS what is tom 's pet ?",
              "Knowledge": "tom 's pet is fox .", "Response": "it is fox ."}
    instruction_alone_too_long = {**record, "Instruction": "a very long instruction " * 20}
    corpus = _write(tmp_path / "cut.jsonl", record, instruction_alone_too_long)
    assert _prepro(t5_tokenizer_dir, corpus, "--max_source_len", str(limit),
                   "--max_target_len", "3", "--knowledge_budget", str(limit)) == 0
    db_path = tmp_path / f"cut.{limit}src3tgt.card.db"
    [row] = _inspect(capsys, db_path)
    assert row["input_ids"] == tok(kept).input_ids  # two oldest turns dropped, knowledge whole
    target = tok(text_target="it is fox .").input_ids
    assert len(target) > 3 and row["labels"] == target[:2] + [1]
    summary = json.loads((db_path / "summary.json").read_text())
    assert summary["cuts"] == {"records_cut": 1, "records_with_turns_dropped": 1,
                               "turns_dropped": 2, "knowledge_cut": 0, "newest_turn_cut": 0,
                               "target_cut": 1}
    assert summary["skipped"]["source_too_long"]["first_lines"] == [2]
    [line1, line2] = _inspect(capsys, corpus, "--tokenizer", str(t5_tokenizer_dir),
                              "--max_source_len", str(limit), "--max_target_len", "3",
                              "--knowledge_budget", str(limit))
    assert line1["source"] == kept and line1["cut"] == {
        "turns_dropped": 2, "knowledge_cut": False, "newest_turn_cut": False, "target_cut": True}
    assert line2 == {"line": 2, "skipped": "source_too_long", "detail": line2["detail"]}


def test_db_is_byte_identical_across_worker_counts(tmp_path, t5_tokenizer_dir):
    from dialogpt.demo.grounded_data import make_records

    records = make_records(120, seed=5) + [{"Context": "x", "Response": ""}]
    corpus = _write(tmp_path / "c.jsonl", *records)
    flags = ("--max_source_len", "40", "--chunk_lines", "25")
    assert _prepro(t5_tokenizer_dir, corpus, *flags, "--output", str(tmp_path / "one")) == 0
    assert main(["--corpus", str(corpus), "--tokenizer", str(t5_tokenizer_dir), "--workers", "2",
                 *flags, "--output", str(tmp_path / "two")]) == 0
    one, two = open_db(tmp_path / "one"), open_db(tmp_path / "two")
    assert one.manifest["shards"] == two.manifest["shards"]  # every file's sha256
    assert len(one) == 120
    summary = json.loads((tmp_path / "two" / "summary.json").read_text())
    assert summary["cuts"]["records_cut"] > 0 and summary["skipped"]["empty_response"][
        "first_lines"] == [121]


def test_rerun_is_a_no_op_and_changed_flags_need_force(tmp_path, capsys, t5_tokenizer_dir):
    corpus = _write(tmp_path / "t.jsonl", RECORD)
    out = str(tmp_path / "db")
    assert _prepro(t5_tokenizer_dir, corpus, "--output", out) == 0
    assert _prepro(t5_tokenizer_dir, corpus, "--output", out) == 0
    assert "up to date" in capsys.readouterr().out
    code = run_main(main, ["--corpus", str(corpus), "--tokenizer", str(t5_tokenizer_dir),
                           "--output", out, "--template", "repo", "--workers", "1"])
    assert code == 2 and "--force" in capsys.readouterr().err
    assert _prepro(t5_tokenizer_dir, corpus, "--output", out, "--template", "repo",
                   "--force") == 0
    assert open_db(out).manifest["template"] == "repo"


def test_tokenizer_without_pad_token_is_a_clear_error(tmp_path, capsys):
    corpus = _write(tmp_path / "t.jsonl", RECORD)
    code = run_main(main, ["--corpus", str(corpus), "--tokenizer", "gpt2-bpe", "--workers", "1"])
    assert code == 2 and "no pad token" in capsys.readouterr().err


def test_format_flag_overrides_the_extension(tmp_path, t5_tokenizer_dir):
    corpus = _write(tmp_path / "records.txt", RECORD)
    assert _prepro(t5_tokenizer_dir, corpus, "--format", "jsonl") == 0
    assert (tmp_path / "records.txt.512src128tgt.card.db").is_dir()


def test_help_mentions_the_record_flags(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for flag in ("--template", "--instruction", "--max_source_len", "--max_target_len",
                 "--knowledge_budget", "convert_tsv"):
        assert flag in out


def test_default_tokenizer_offline_fails_fast_with_a_t5_hint(tmp_path, capsys, hub_offline):
    corpus = _write(tmp_path / "t.jsonl", RECORD)
    assert run_main(main, ["--corpus", str(corpus), "--workers", "1"]) == 2
    err = capsys.readouterr().err
    assert "microsoft/GODEL-v1_1-base-seq2seq" in err and "T5 tokenizer" in err


def test_inspect_of_a_file_that_is_not_jsonl_is_a_clear_error(tmp_path, capsys):
    tsv = tmp_path / "train.tsv"
    tsv.write_text("a\tb\n")
    assert run_main(main, ["--inspect", str(tsv)]) == 2
    assert "GODEL JSON lines" in capsys.readouterr().err


def test_seq2seq_db_pickles(tmp_path, t5_tokenizer_dir):
    import pickle

    corpus = _write(tmp_path / "t.jsonl", RECORD)
    assert _prepro(t5_tokenizer_dir, corpus, "--output", str(tmp_path / "db")) == 0
    db = open_db(tmp_path / "db")
    copy = pickle.loads(pickle.dumps(db))
    assert isinstance(copy, Seq2SeqDB)
    assert [a.tolist() for a in copy[0]] == [a.tolist() for a in db[0]]
