"""Training evaluates a prepro.py --reverse DB's run on reversed lines."""

from __future__ import annotations

from types import SimpleNamespace

from dialogpt.tokenization import load_tokenizer

LINES = ["0.0 how are you ? EOS 1.0 fine , and you ?\t1.0 great thanks",
         "1.0 what is your favorite color ?\t1.0 blue , and yours ?"]


def build(tsv, *extra):
    from dialogpt.data.db import TokenDB
    from dialogpt.data.prepro import db_path_for, main

    assert main(["--corpus", str(tsv), "--max_seq_len", "64", "--workers", "1", *extra]) == 0
    return TokenDB(db_path_for(tsv, 64, reverse="--reverse" in extra))


def test_training_evaluates_a_reversed_db_reversed(tmp_path):
    from dialogpt.training.data import build_eval_loader

    train = tmp_path / "train.tsv"
    train.write_text("".join(line + "\n" for line in LINES * 4), encoding="utf-8")
    valid = tmp_path / "valid.tsv"
    valid.write_text("".join(line + "\n" for line in LINES), encoding="utf-8")
    config = SimpleNamespace(eval_input_file=str(valid), eval_batch_size=2, max_seq_length=64,
                             normalize_data=True)
    tokenizer = load_tokenizer()
    assert build_eval_loader(config, tokenizer, build(train, "--reverse")).reverse is True
    assert build_eval_loader(config, tokenizer, build(train)).reverse is False
