"""DialoGPT TSV -> GODEL JSONL: weights as prepro treats them, bad lines counted, round trip."""

from __future__ import annotations

import json

import pytest

from dialogpt.cli import run_main
from dialogpt.data.convert_tsv import main


def _convert(tmp_path, text: bytes, *flags):
    source = tmp_path / "train.tsv"
    source.write_bytes(text)
    out = tmp_path / "train.jsonl"
    code = run_main(main, ["--input", str(source), "--output", str(out), *flags])
    records = ([json.loads(line) for line in out.read_text().splitlines()]
               if out.exists() else None)
    return code, records


def test_weights_and_records(tmp_path, capsys):
    code, records = _convert(tmp_path, (
        "0.0 hello there EOS 1.0 how are you\t1.0 fine  thanks\n"   # plain
        "1.0 a EOS 1.0 b\t0.0 c\n"                                  # weight-0 response dropped
        "1.0 a EOS 0.0 b EOS 1.0 c EOS 0.0 d\t0.0 e\n"              # last weighted turn: c
        "1.0 a EOS 0.0 b\t0.0 c\n"                                  # nothing to predict
        "just one\t0.0 x\n"                                         # a single turn remains
        "no tab here\n"
        "a EOS b\t0.5 half\n").encode())                            # weight not kept, counted
    assert code == 0
    assert records == [
        {"Context": "hello there EOS how are you", "Knowledge": "", "Response": "fine thanks"},
        {"Context": "a", "Knowledge": "", "Response": "b"},
        {"Context": "a EOS b", "Knowledge": "", "Response": "c"},
        {"Context": "a EOS b", "Knowledge": "", "Response": "half"},
    ]
    err = capsys.readouterr().err
    assert "all_zero_weights" in err and "lines 4" in err
    assert "single_turn" in err and "lines 5" in err and "no_tab" in err and "lines 6" in err
    assert "response weights other than 1 not kept 1" in err
    assert "weight-0 turns after the response dropped 1" in err


def test_records_feed_prepro(tmp_path, t5_tokenizer_dir):
    from dialogpt.data.db_open import open_db
    from dialogpt.data.prepro import main as prepro

    code, _ = _convert(tmp_path, b"hi EOS how are you\tfine\n")
    assert code == 0
    assert prepro(["--corpus", str(tmp_path / "train.jsonl"), "--tokenizer",
                   str(t5_tokenizer_dir), "--workers", "1"]) == 0
    assert len(open_db(tmp_path / "train.512src128tgt.card.db")) == 1


def test_turn_that_would_not_survive_the_split_is_written_as_a_list(tmp_path):
    # "x<NBSP>EOS" is one turn; whitespace normalised it is "x EOS", and "x EOS EOS y" would
    # split into ["x", "EOS y"]
    code, records = _convert(tmp_path, "x\u00a0EOS EOS y\tz\na EOS EOS b\tc\n".encode())
    assert code == 0
    assert records == [{"Context": ["x EOS", "y"], "Knowledge": "", "Response": "z"},
                       {"Context": "a EOS EOS b", "Knowledge": "", "Response": "c"}]


@pytest.mark.parametrize("line", [b"no tab\n", b"caf\xe9\tx\n", b"a\tb\tc\n"])
def test_strict_names_file_and_line(tmp_path, capsys, line):
    code, records = _convert(tmp_path, b"a\tb\n" + line, "--strict")
    assert code == 2 and records is None
    assert f"{tmp_path / 'train.tsv'}:2:" in capsys.readouterr().err


def test_nothing_to_write_is_an_error(tmp_path, capsys):
    code, records = _convert(tmp_path, b"no tab\n")
    assert code == 2 and records is None
    assert "no line gave a record" in capsys.readouterr().err
