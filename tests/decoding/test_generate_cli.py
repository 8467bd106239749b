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
                 "--mmi_model", "--num_candidates", "--seed", "--min_length", "--preset",
                 "--format", "--instruction", "--knowledge", "--template"):
        assert flag in result.stdout


GODEL_INPUT = [  # one GODEL record per line; the expected (turns, knowledge, instruction)
    ('{"Context": "what looks the cat ? EOS it looks red", "Knowledge": "the cat is red", '
     '"Response": "red"}', (["what looks the cat ?", "it looks red"], "the cat is red", "DEF")),
    ('{"Context": ["hello", "what sings the bird ?"], "Instruction": "Instruction: sing ."}',
     (["hello", "what sings the bird ?"], "default kn", "Instruction: sing .")),
    ('{"Context": "x", "Knowledge": "", "Instruction": ""}', (["x"], "", "")),
    ("not json", None),
    ('{"Context": "  "}', None),
    ('["a list"]', None),
    ('{"Context": "the boat", "Knowledge": 3}', None),
]


def test_godel_jsonl_one_response_per_record(tiny_t5_dir, tmp_path, capsys):
    from dialogpt.decoding.grounded_source import SourceSettings
    from dialogpt.modeling import load_model
    from dialogpt.tokenization import load_tokenizer

    source = tmp_path / "test.jsonl"
    source.write_bytes("\n".join(line for line, _ in GODEL_INPUT).encode() + b"\n\xff\xfe\n")
    out = tmp_path / "test.resp.txt"
    assert main(["--model", str(tiny_t5_dir), "--input", str(source), "--output", str(out),
                 "--max_length", "8", "--device", "cpu", "--batch_size", "2",
                 "--knowledge", "default kn", "--instruction", "DEF"]) == 0
    lines = out.read_text(encoding="utf-8").split("\n")
    assert len(lines) == len(GODEL_INPUT) + 2 and lines[-1] == ""
    decoder = Decoder(load_model(tiny_t5_dir), load_tokenizer(tiny_t5_dir),
                      DecodingOptions(max_length=8), sources=SourceSettings())
    for line, (_, expected) in zip(lines, GODEL_INPUT):
        if expected is None:
            assert line == ""
            continue
        turns, knowledge, instruction = expected
        assert line == decoder.respond([turns], [knowledge], [instruction])[0].text
    err = capsys.readouterr().err
    assert "5 input lines have no usable context" in err
    for number in (4, 5, 6, 7, 8):
        assert f"line {number}: " in err
    assert "line 8: not UTF-8" in err and "line 7: wrong_type" in err


def test_causal_model_refuses_records_with_knowledge(tiny_model_dir, tmp_path, capsys):
    source = tmp_path / "test.jsonl"
    source.write_text('{"Context": "hi"}\n{"Context": "hi", "Knowledge": "fact"}\n',
                      encoding="utf-8")
    argv = ["--model", str(tiny_model_dir), "--input", str(source), "--output",
            str(tmp_path / "out.txt"), "--device", "cpu", "--max_length", "4"]
    assert run_main(main, argv) == 2
    assert f"{source}:2: the record has knowledge" in capsys.readouterr().err
    source.write_text('{"Context": "hi"}\n', encoding="utf-8")
    assert main(argv) == 0  # no grounding: a DialoGPT model decodes GODEL files too
