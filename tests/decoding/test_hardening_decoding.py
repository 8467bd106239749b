"""Issue 26 (hardening), the decoding classes, through the real entry points (``interact.py``,
``generate.py``): each fault ends in one clear line (or a note) and the chat goes on.

| class | before | after |
|---|---|---|
| Bad 4: stdin bytes that are not UTF-8 (both model kinds) | TypeError in the tokenizer, history lost | replaced with U+FFFD, said once, chat goes on |
| Weak 4: manifest lists tokenizer files that are gone | decoded with the fallback GPT-2 BPE | refused, naming the missing files |
| Weak 5: a GODEL model as --mmi_model | a vocabulary message | "is a seq2seq (GODEL, t5) model" |
| Weak 6: a GODEL folder as --ranker_model | a load-report table, then the error | one line from config.json, before loading |
| Weak 7: an unknown /command in interact.py | sent to the model as a chat turn | "unknown command", with the list; // sends a / |
"""

from __future__ import annotations

import io
import json
import shutil
import sys

import pytest

from dialogpt.cli import run_main


def run(main, argv, capsys):
    code = run_main(main, [str(a) for a in argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def chat_with_bytes(monkeypatch, data: bytes):
    """``interact.py``'s stdin as a pipe delivering ``data`` (not a terminal)."""
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data), encoding="utf-8"))


@pytest.mark.parametrize("kind", ["causal", "seq2seq"])
def test_bad4_non_utf8_stdin_is_replaced_and_said_once(kind, tiny_model_dir, tiny_t5_repo_dir,
                                                       tmp_path, monkeypatch, capsys):
    from dialogpt.decoding.interact import main

    model = tiny_model_dir if kind == "causal" else tiny_t5_repo_dir
    chat_with_bytes(monkeypatch, b"hello \xff\xfe there\nagain \xc3\n\xe9t\xe9 ok\n")
    transcript = tmp_path / "chat.jsonl"
    code, out, err = run(main, ["--model", model, "--max_length", 4, "--device", "cpu",
                                "--transcript", transcript], capsys)
    assert code == 0
    assert err.count("not UTF-8") == 1 and "U+FFFD" in err
    events = [json.loads(line) for line in transcript.read_text(encoding="utf-8").splitlines()]
    users = [e["text"] for e in events if e["role"] == "user"]
    assert users == ["hello \ufffd\ufffd there", "again \ufffd", "\ufffdt\ufffd ok"]
    assert out.count("Bot: ") == 3  # every turn answered: the history survived


def test_weak7_unknown_command_is_listed_not_sent(tiny_model_dir, tiny_t5_repo_dir, tmp_path,
                                                  monkeypatch, capsys):
    from dialogpt.decoding.interact import main

    transcript = tmp_path / "chat.jsonl"
    chat_with_bytes(monkeypatch, b"/shrug please\n//etc is a folder\n/reset now\n/quit\nnever\n")
    code, out, err = run(main, ["--model", tiny_model_dir, "--max_length", 4, "--device", "cpu",
                                "--transcript", transcript], capsys)
    assert code == 0
    assert ("(unknown command /shrug; commands: /reset, /quit, /exit, /help; start with // to "
            "send a line beginning with /)") in err
    assert "(history cleared)" in err  # a known command with words after it still works
    events = [json.loads(line) for line in transcript.read_text(encoding="utf-8").splitlines()]
    assert [(e["role"], e["text"]) for e in events if e["role"] != "bot"] == [
        ("user", "/etc is a folder"), ("reset", "")]
    assert out.count("Bot: ") == 1
    chat_with_bytes(monkeypatch, b"/nope\n")  # a seq2seq model lists its grounding commands too
    code, _, err = run(main, ["--model", tiny_t5_repo_dir, "--max_length", 4, "--device", "cpu"],
                       capsys)
    assert code == 0 and ("commands: /reset, /quit, /exit, /help, /knowledge, /instruction, "
                          "/show;") in err


def generate(argv, tmp_path, capsys):
    from dialogpt.decoding.generate_cli import main

    source = tmp_path / "in.tsv"
    source.write_text("hello there\tref\n", encoding="utf-8")
    return run(main, ["--input", source, "--output", tmp_path / "out.txt", "--max_length", 3,
                      "--device", "cpu", *argv], capsys)


def test_weak4_missing_tokenizer_files_listed_in_the_manifest_are_refused(tiny_model_dir,
                                                                           tmp_path, capsys):
    from dialogpt.fileio import write_manifest

    model = shutil.copytree(tiny_model_dir, tmp_path / "model")
    write_manifest(model)
    gone = sorted(name for name in ("vocab.json", "merges.txt", "tokenizer.json",
                                    "tokenizer_config.json") if (model / name).exists())
    assert "tokenizer.json" in gone
    for name in gone:
        (model / name).unlink()
    code, _, err = generate(["--model", model], tmp_path, capsys)
    assert code == 2
    assert f"its manifest.json lists tokenizer files that are gone: {', '.join(gone)};" in err
    assert not (tmp_path / "out.txt").exists()
    code, _, _ = generate(["--model", model, "--tokenizer", tiny_model_dir], tmp_path, capsys)
    assert code == 0  # naming a tokenizer is the way out the message gives


def test_weak5_seq2seq_mmi_model_is_called_seq2seq(tiny_model_dir, tiny_t5_dir, tmp_path,
                                                    capsys):
    code, _, err = generate(["--model", tiny_model_dir, "--mmi_model", tiny_t5_dir,
                             "--decoding", "sample", "--num_candidates", 2], tmp_path, capsys)
    assert code == 2
    assert f"--mmi_model {tiny_t5_dir} is a seq2seq (GODEL, t5) model" in err
    assert "vocabulary" not in err


def test_weak6_godel_ranker_model_is_refused_in_one_line_before_loading(
        tiny_model_dir, tiny_t5_dir, tmp_path, capsys):
    ranking = ["--decoding", "sample", "--num_candidates", 2, "--ranker", "dialogrpt"]
    code, out, err = generate(["--model", tiny_model_dir, *ranking, "--ranker_model", tiny_t5_dir],
                              tmp_path, capsys)
    assert code == 2
    assert (f"error: --ranker_model {tiny_t5_dir} is a seq2seq (GODEL) model, not a DialogRPT "
            "ranker") in err
    assert not any(word in out + err for word in ("UNEXPECTED", "MISSING", "newly initialized"))
    code, _, err = generate(["--model", tiny_model_dir, *ranking, "--ranker_model",
                             tiny_model_dir], tmp_path, capsys)
    assert code == 2 and "is a gpt2 GPT2LMHeadModel, not a DialogRPT ranker" in err
