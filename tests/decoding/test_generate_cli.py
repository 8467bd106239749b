"""``generate.py`` in-process: one response per input line, in order, batching-independent."""

from __future__ import annotations

import subprocess
import sys

import pytest

from dialogpt.cli import run_main
from dialogpt.decoding.generate_cli import main
from dialogpt.decoding.generation import Decoder
from dialogpt.decoding.options import DecodingOptions

INPUT = (
    "0.0 Does money buy happiness ? EOS 1.0 Depends how much money you spend on it .\t1.0 ref\n"
    "\tresponse of a line without context\n"
    "hello there\tref one\tref two\n"
    "What is the best way to buy happiness ? EOS You just have to be a millionaire EOS hard\tr\n"
    "x EOS  EOS y\tan empty middle turn: prepro rejects it\n"
    "This is so difficult !\tr\n"
)
EXPECTED_CONTEXTS = [
    ["Does money buy happiness ?", "Depends how much money you spend on it ."],
    [],
    ["hello there"],
    ["What is the best way to buy happiness ?", "You just have to be a millionaire", "hard"],
    [],
    ["This is so difficult !"],
]


@pytest.fixture()
def input_file(tmp_path):
    path = tmp_path / "contexts.tsv"
    path.write_text(INPUT, encoding="utf-8")
    return path


def run_generate(model_dir, input_file, output, *extra):
    return main(["--model", str(model_dir), "--input", str(input_file), "--output", str(output),
                 "--max_length", "6", "--device", "cpu", *extra])


def test_one_response_per_line_in_input_order(tiny_model_dir, tiny_model, tokenizer, input_file,
                                              tmp_path, capsys):
    out = tmp_path / "out.resp.txt"
    assert run_generate(tiny_model_dir, input_file, out, "--batch_size", "4") == 0
    lines = out.read_text(encoding="utf-8").split("\n")
    assert lines[-1] == "" and len(lines) - 1 == len(EXPECTED_CONTEXTS)
    decoder = Decoder(tiny_model, tokenizer, DecodingOptions(max_length=6))
    for line, turns in zip(lines, EXPECTED_CONTEXTS):
        expected = decoder.respond([turns])[0].text if turns else ""
        assert line == expected
    assert "2 input lines have no usable context" in capsys.readouterr().err


def test_output_does_not_depend_on_batch_size(tiny_model_dir, input_file, tmp_path):
    one, many = tmp_path / "one.txt", tmp_path / "many.txt"
    assert run_generate(tiny_model_dir, input_file, one, "--batch_size", "1") == 0
    assert run_generate(tiny_model_dir, input_file, many, "--batch_size", "3") == 0
    assert one.read_bytes() == many.read_bytes()


def test_mmi_reranking_from_the_command_line(tiny_model_dir, input_file, tmp_path):
    out = tmp_path / "mmi.txt"
    assert run_generate(tiny_model_dir, input_file, out, "--mmi_model", str(tiny_model_dir),
                        "--decoding", "sample", "--top_k", "20", "--num_candidates", "3") == 0
    assert len(out.read_text(encoding="utf-8").split("\n")) == len(EXPECTED_CONTEXTS) + 1


@pytest.mark.parametrize("extra, message", [
    (["--max_length", "64"], "leaves no room"),
    (["--mmi_model", "SAME"], "--decoding sample"),
    (["--top_p", "2"], "--top_p"),
])
def test_bad_flags_are_user_errors(tiny_model_dir, input_file, tmp_path, capsys, extra, message):
    extra = [str(tiny_model_dir) if value == "SAME" else value for value in extra]
    argv = ["--model", str(tiny_model_dir), "--input", str(input_file),
            "--output", str(tmp_path / "out.txt"), *extra]
    assert run_main(main, argv) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out.txt").exists()


def test_help_lists_every_flag(repo_root):
    result = subprocess.run([sys.executable, "generate.py", "--help"], cwd=repo_root,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    for flag in ("--model", "--input", "--output", "--batch_size", "--decoding", "--top_k",
                 "--top_p", "--temperature", "--num_beams", "--no_repeat_ngram_size",
                 "--repetition_penalty", "--max_length", "--max_history", "--max_context_tokens",
                 "--mmi_model", "--num_candidates", "--seed"):
        assert flag in result.stdout
