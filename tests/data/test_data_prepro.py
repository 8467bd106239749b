"""prepro.py end to end: real GPT-2 ids, bad input skipped and counted, strictness, re-runs."""

from __future__ import annotations

import json
import os

import pytest

from dialogpt.cli import UserError, run_main
from dialogpt.data.db import TokenDB
from dialogpt.data.prepro import db_path_for, main

EOS = 50256


def _prepro(corpus, *flags):
    return main(["--corpus", str(corpus), "--workers", "1", *flags])


def _inspect(capsys, db, *flags):
    capsys.readouterr()
    assert main(["--inspect", str(db), *flags]) == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def test_hand_worked_line_with_real_gpt2_ids(tmp_path, capsys, gpt2_vocab):
    v = gpt2_vocab
    corpus = tmp_path / "train.tsv"
    corpus.write_text("0.0 hello there EOS 1.0 how are you\t1.0 fine thanks\n")
    assert _prepro(corpus, "--max_seq_len", "16") == 0
    [example] = _inspect(capsys, tmp_path / "train.16len.db")
    hello, there, how, are, you = v["hello"], v["Ġthere"], v["how"], v["Ġare"], v["Ġyou"]
    fine, thanks = v["fine"], v["Ġthanks"]
    assert example == {
        "id": 0,
        "input_ids": [hello, there, EOS, how, are, you, EOS, fine, thanks],
        "lm_labels": [-1, -1, how, are, you, EOS, fine, thanks, EOS],
        "weights": [0.0, 0.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0],
    }


def test_reverse_and_two_turn(tmp_path, capsys, gpt2_vocab):
    a, b, c = gpt2_vocab["a"], gpt2_vocab["b"], gpt2_vocab["c"]
    corpus = tmp_path / "train.tsv"
    corpus.write_text("a EOS b\tc\n")
    assert _prepro(corpus, "--reverse") == 0
    assert _prepro(corpus, "--two_turn") == 0
    assert _prepro(corpus, "--reverse", "--two_turn") == 0
    assert _inspect(capsys, tmp_path / "train.128len.reverse.db")[0]["input_ids"] == [
        c, EOS, b, EOS, a]
    assert _inspect(capsys, tmp_path / "train.128len.reverse.db")[0]["lm_labels"] == [
        -1, b, EOS, a, EOS]
    assert _inspect(capsys, tmp_path / "train.128len.2turn.db")[0]["input_ids"] == [a, EOS, b]
    assert _inspect(capsys, tmp_path / "train.128len.reverse.2turn.db")[0]["input_ids"] == [
        c, EOS, b]
    manifest = TokenDB(tmp_path / "train.128len.reverse.2turn.db").manifest
    assert manifest["reverse"] is True and manifest["two_turn"] is True


def test_default_db_names_follow_the_original():
    assert str(db_path_for("data/train.tsv", 128, False, False)) == "data/train.128len.db"
    assert str(db_path_for("data/train.tsv", 64, True, True)) == \
        "data/train.64len.reverse.2turn.db"
    assert str(db_path_for("corpus.txt", 128, False, False)) == "corpus.txt.128len.db"


def test_literal_endoftext_in_text_is_text(tmp_path, capsys):
    corpus = tmp_path / "train.tsv"
    corpus.write_text("a <|endoftext|> b\tc\n")
    assert _prepro(corpus) == 0
    [example] = _inspect(capsys, tmp_path / "train.128len.db")
    assert example["input_ids"].count(EOS) == 1          # only the turn separator


BAD_CORPUS = [
    b"\xef\xbb\xbf0.0 good one\t1.0 yes\n",          # 1 BOM removed (normalised), written
    b"no tab here\n",                                # 2 no_tab
    b"a\tb\tc\n",                                    # 3 extra_tabs
    b"a EOS  EOS b\tc\n",                            # 4 empty_turn
    b"-1.0 a\tb\n",                                  # 5 bad_weight
    b"a \xff b\tc\n",                                # 6 non_utf8
    b"crlf line\tfine\r\n",                          # 7 CRLF normalised, written
    b"x" * (1 << 20) + b"\tlong\n",                  # 8 line_too_long (over 1 MiB)
    b"\n",                                           # 9 blank_line
    b"a\t0.0 b\n",                                   # 10 single_turn (response dropped)
    b"1.0 a EOS 0.0 b\t0.0 c\n",                     # 11 all_zero_weights
    b"a\t" + b"word " * 200 + b"\n",                 # 12 too_long (response > max_seq_len)
    b"no tab again\n",                               # 13 no_tab
    b"last\tline without newline",                   # 14 written
]


def test_bad_input_is_skipped_counted_and_located(tmp_path):
    corpus = tmp_path / "bad.tsv"
    corpus.write_bytes(b"".join(BAD_CORPUS))
    assert _prepro(corpus, "--max_seq_len", "64") == 0
    summary = json.loads((tmp_path / "bad.64len.db" / "summary.json").read_text())
    assert summary["lines_read"] == 14
    assert summary["lines_written"] == 3
    assert summary["lines_written"] + summary["lines_skipped"] == summary["lines_read"]
    assert {reason: entry["first_lines"] for reason, entry in summary["skipped"].items()} == {
        "no_tab": [2, 13], "extra_tabs": [3], "empty_turn": [4], "bad_weight": [5],
        "non_utf8": [6], "line_too_long": [8], "blank_line": [9], "single_turn": [10],
        "all_zero_weights": [11], "too_long": [12]}
    assert summary["normalised"] == {"crlf_line_endings": 1, "bom_removed": 1}
    assert summary["examples"] == 3 and summary["turns_over_max_seq_len"] == 1
    db = TokenDB(tmp_path / "bad.64len.db")
    assert db.manifest["n_examples"] == 3


def test_strict_stops_at_the_first_malformed_line(tmp_path, capsys):
    corpus = tmp_path / "bad.tsv"
    corpus.write_bytes(b"".join(BAD_CORPUS))
    assert run_main(main, ["--corpus", str(corpus), "--workers", "1", "--strict"]) == 2
    error = capsys.readouterr().err
    assert f"{corpus}:2: no TAB" in error and "without --strict" in error
    assert sorted(os.listdir(tmp_path)) == ["bad.tsv"]          # nothing half-written left


def test_strict_accepts_data_outcomes_that_are_not_malformed(tmp_path):
    corpus = tmp_path / "ok.tsv"
    corpus.write_text("a\tb\na\t0.0 b\n")                       # single_turn is not malformed
    assert _prepro(corpus, "--strict") == 0


def test_empty_file_is_an_error_and_writes_nothing(tmp_path):
    corpus = tmp_path / "empty.tsv"
    corpus.write_bytes(b"")
    with pytest.raises(UserError, match="empty"):
        _prepro(corpus)
    assert sorted(os.listdir(tmp_path)) == ["empty.tsv"]


def test_no_example_at_all_is_an_error(tmp_path):
    corpus = tmp_path / "junk.tsv"
    corpus.write_text("no tab\nnone here either\n")
    with pytest.raises(UserError, match="no line produced an example"):
        _prepro(corpus)
    assert sorted(os.listdir(tmp_path)) == ["junk.tsv"]


def test_rerun_skips_changed_corpus_needs_force(tmp_path, capsys):
    corpus = tmp_path / "train.tsv"
    corpus.write_text("a\tb\n")
    db = tmp_path / "train.128len.db"
    assert _prepro(corpus) == 0
    stamp = (db / "manifest.json").stat().st_mtime_ns
    assert _prepro(corpus) == 0
    assert "up to date" in capsys.readouterr().out
    assert (db / "manifest.json").stat().st_mtime_ns == stamp
    corpus.write_text("a\tb\nc\td\n")
    with pytest.raises(UserError, match="corpus_sha256.*--force"):
        _prepro(corpus)
    assert _prepro(corpus, "--force") == 0
    assert len(TokenDB(db)) == 2


def test_unknown_tokenizer_is_a_clear_error_not_an_empty_db(tmp_path):
    corpus = tmp_path / "train.tsv"
    corpus.write_text("a\tb\n")
    with pytest.raises(UserError, match="tokenizer"):
        _prepro(corpus, "--tokenizer", str(tmp_path / "no-such-tokenizer"))
    assert sorted(os.listdir(tmp_path)) == ["train.tsv"]


def test_inspect_limit(tmp_path, capsys):
    corpus = tmp_path / "train.tsv"
    corpus.write_text("a\tb\nc\td\ne\tf\n")
    assert _prepro(corpus) == 0
    assert [e["id"] for e in _inspect(capsys, tmp_path / "train.128len.db", "--limit", "2")] == [
        0, 1]


@pytest.mark.slow
def test_parallel_workers_write_the_same_db(tmp_path):
    lines = [f"{i % 2}.0 turn {i} EOS words {i * 7} here\t1.0 reply {i} " + "x " * (i % 40)
             for i in range(3000)]
    corpus = tmp_path / "train.tsv"
    corpus.write_text("\n".join(lines) + "\n")
    assert main(["--corpus", str(corpus), "--workers", "1", "--output", str(tmp_path / "one"),
                 "--chunk_lines", "250", "--max_seq_len", "32", "--shard_tokens", "20000"]) == 0
    assert main(["--corpus", str(corpus), "--workers", "2", "--output", str(tmp_path / "two"),
                 "--chunk_lines", "250", "--max_seq_len", "32", "--shard_tokens", "20000"]) == 0
    one, two = TokenDB(tmp_path / "one"), TokenDB(tmp_path / "two")
    assert len(one.manifest["shards"]) > 1
    assert one.manifest["shards"] == two.manifest["shards"]
    assert int(one.lengths.max()) <= 32
