"""The ``batch_eval.py`` command line: help, outputs, METEOR fallback and bad input."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from dialogpt.cli import UserError, run_main
from dialogpt.evaluation import meteor
from dialogpt.evaluation.batch_eval import evaluate, main
from dialogpt.evaluation.eval_config import EvalConfig
from dialogpt.evaluation.scoring import METRIC_KEYS

SUBMISSION = ("k1\t-\t-\t-\t-\t-\tthe cat sat on the mat\n"
              "k2\t-\t-\t-\t-\t-\tHello there!\n")


@pytest.fixture
def files(tmp_path):
    refs = tmp_path / "refs.txt"
    refs.write_text("k1\t1|the cat sat on the mat\t1|human\t1|a cat sat\n"
                    "k2\t1|hello there !\t1|human\t1|hi\n", encoding="utf-8")
    keys = tmp_path / "keys.txt"
    keys.write_text("k1\nk2\n", encoding="utf-8")
    hyp = tmp_path / "sub.txt"
    hyp.write_text(SUBMISSION, encoding="utf-8")
    return refs, keys, hyp


def run(argv, capsys):
    code = run_main(main, argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_help_lists_every_flag(repo_root):
    # (that --help is fast, i.e. imports nothing heavy, is tests/test_entry_points.py's check)
    result = subprocess.run([sys.executable, "batch_eval.py", "--help"], cwd=repo_root,
                            capture_output=True, text=True, check=True)
    for flag in ("--refs", "--keys", "--hyp", "--input_dir", "--format", "--align_keys",
                 "--clean", "--n_refs", "--vshuman", "--compat", "--no_meteor", "--meteor_jar",
                 "--json", "--per_segment", "--output_dir"):
        assert flag in result.stdout
    assert "(default: 6)" in result.stdout and "(default: official)" in result.stdout


def test_json_has_exactly_the_contract_keys(files, capsys):
    refs, keys, hyp = files
    code, out, _ = run(["--refs", str(refs), "--keys", str(keys), "--hyp", str(hyp), "--clean",
                        "--no_meteor", "--json"], capsys)
    assert code == 0
    scores = json.loads(out)
    assert list(scores) == list(METRIC_KEYS)
    assert scores["n_lines"] == 2 and scores["meteor"] is None
    assert scores["avg_len"] == (6 + 3) / 2   # "hello there !" after cleaning


def test_evaluate_returns_what_json_prints(files, tmp_path, capsys):
    refs, keys, hyp = files
    metrics = evaluate(EvalConfig(refs=str(refs), keys=str(keys), hyp=str(hyp), clean=True,
                                  no_meteor=True))
    assert metrics["n_lines"] == 2 and metrics["avg_len"] == (6 + 3) / 2
    assert capsys.readouterr().out == ""  # the library call prints nothing
    _, out, _ = run(["--refs", str(refs), "--keys", str(keys), "--hyp", str(hyp), "--clean",
                     "--no_meteor", "--json"], capsys)
    assert json.loads(out) == metrics
    folder = tmp_path / "outputs"
    folder.mkdir()
    (folder / "good.resp.txt").write_text("the cat sat on the mat\nhello there !\n")
    (folder / "short.resp.txt").write_text("one line\n")
    config = EvalConfig(refs=str(refs), keys=str(keys), input_dir=str(folder), no_meteor=True)
    with pytest.raises(UserError, match="1 of 2 files were not scored"):
        evaluate(config)
    assert json.loads((folder / "eval" / "good.eval.json").read_text())["n_lines"] == 2
    (folder / "short.resp.txt").unlink()
    assert list(evaluate(config)) == ["good"]


@pytest.mark.parametrize("fields, message", [
    ({}, "pass one of --hyp"),
    ({"hyp": "h", "input_dir": "d"}, "pass one of --hyp"),
    ({"hyp": "h", "task": "coqa"}, "--task needs JSONL references"),
    ({"hyp": "h", "refs": "r.jsonl", "keys": "k"}, "--keys do not apply to JSONL"),
])
def test_eval_config_validates_without_files(fields, message):
    with pytest.raises(UserError, match=message):
        EvalConfig(**{"refs": "r.txt", **fields}).validate()


def test_table_and_per_segment_report(files, tmp_path, capsys):
    refs, keys, hyp = files
    per_segment = tmp_path / "segments.tsv"
    code, out, _ = run(["--refs", str(refs), "--keys", str(keys), "--hyp", str(hyp), "--clean",
                        "--no_meteor", "--per_segment", str(per_segment)], capsys)
    assert code == 0
    assert out.splitlines()[0].split("|")[2].strip() == "NIST2"
    assert "| n/a " in out   # METEOR column
    rows = [line.split("\t") for line in per_segment.read_text().splitlines()]
    assert rows[0] == ["key", "hyp_words", "closest_ref_words", "bleu4", "nist4", "hypothesis"]
    # k1 copies its first reference: segment BLEU-4 is 1; k2 "hello there !" matches too
    assert rows[1][0] == "k1" and rows[1][1:4] == ["6", "6", "1.0000"]
    assert rows[2][0] == "k2" and rows[2][3] == "1.0000" and rows[2][5] == "hello there !"


@pytest.mark.parametrize("cells, note", [
    (("1|a cat", "1|human", "1|a dog"),
     "reference #1 (0-based; the human response) of each line left out by --vshuman 1, -1 keeps "
     "all"),
    (("1|a cat",),
     "every reference used (one reference a line; --vshuman 1 leaves out reference #1, the "
     "human response, only on lines with more than 1)"),
])
def test_the_vshuman_note_says_what_was_left_out(tmp_path, capsys, cells, note):
    refs = tmp_path / "refs.txt"
    refs.write_text("".join(f"k{i}\t" + "\t".join(cells) + "\n" for i in (1, 2)),
                    encoding="utf-8")
    hyp = tmp_path / "hyp.txt"
    hyp.write_text("a cat\na dog\n", encoding="utf-8")
    code, out, _ = run(["--refs", str(refs), "--hyp", str(hyp), "--format", "plain",
                        "--no_meteor"], capsys)
    assert code == 0 and f"; {note}; --json prints every metric)" in out


def test_vshuman_note_on_mixed_reference_counts():
    from dialogpt.evaluation.batch_eval import vshuman_note

    assert vshuman_note(1, [1, 3, 2, 1]) == ("reference #1 (0-based; the human response) of the "
                                             "2 of 4 lines with more than 1 left out by "
                                             "--vshuman 1, -1 keeps all")
    assert vshuman_note(-1, [1]) == "all references used (--vshuman -1)"
    assert vshuman_note(2, [2, 2]).startswith("every reference used (at most 2 references a line")


def test_meteor_unavailable_still_prints_the_other_metrics(files, tmp_path, capsys, monkeypatch):
    refs, keys, hyp = files
    monkeypatch.setenv("PATH", str(tmp_path))   # no java
    code, out, err = run(["--refs", str(refs), "--keys", str(keys), "--hyp", str(hyp),
                          "--json"], capsys)
    assert code == 0
    assert "METEOR unavailable: java was not found on PATH" in err and "install" in err
    scores = json.loads(out)
    assert scores["meteor"] is None and scores["nist4"] > 0


def test_missing_jar_names_the_fix(tmp_path, monkeypatch):
    monkeypatch.setattr(meteor.shutil, "which", lambda name: "/usr/bin/java")
    with pytest.raises(meteor.MeteorUnavailable, match="does not exist"):
        meteor.locate_meteor(tmp_path / "meteor-1.5.jar")
    jar = tmp_path / "meteor-1.5.jar"
    jar.write_bytes(b"")
    with pytest.raises(meteor.MeteorUnavailable, match="paraphrase-en.gz is missing"):
        meteor.locate_meteor(jar)


def test_bad_utf8_hypothesis_is_a_clear_error(files, capsys):
    refs, keys, hyp = files
    hyp.write_bytes(SUBMISSION.encode() + b"k3\t-\t-\t-\t-\t-\t\xe9t\xe9\n")
    code, out, err = run(["--refs", str(refs), "--keys", str(keys), "--hyp", str(hyp),
                          "--no_meteor"], capsys)
    assert code == 2 and not out
    assert f"{hyp}:3: not valid UTF-8" in err


def test_plain_file_shorter_than_its_keys_is_refused(files, tmp_path, capsys):
    refs, keys, _ = files
    plain = tmp_path / "model.resp.txt"
    plain.write_text("only one line\n", encoding="utf-8")
    code, _, err = run(["--refs", str(refs), "--keys", str(keys), "--hyp", str(plain),
                        "--no_meteor"], capsys)
    assert code == 2
    assert "has 1 lines but" in err and "2 keys" in err


def test_plain_file_aligned_with_the_references_by_default(files, tmp_path, capsys):
    refs, _, _ = files
    plain = tmp_path / "model.resp.txt"
    plain.write_text("the cat sat on the mat\n\n", encoding="utf-8")   # k2: empty response
    code, out, err = run(["--refs", str(refs), "--hyp", str(plain), "--no_meteor", "--json",
                          "--compat", "dialogpt"], capsys)
    assert code == 0
    assert json.loads(out)["n_lines"] == 2
    assert "empty hypotheses were kept in place" in err


def test_input_dir_skips_bad_files_and_reports_them(files, tmp_path, capsys):
    refs, keys, _ = files
    folder = tmp_path / "outputs"
    folder.mkdir()
    (folder / "good.resp.txt").write_text("the cat sat on the mat\nhello there !\n")
    (folder / "short.resp.txt").write_text("one line\n")
    code, out, err = run(["--refs", str(refs), "--keys", str(keys), "--input_dir", str(folder),
                          "--no_meteor"], capsys)
    assert code == 2
    assert "| good " in out and "short" not in out
    assert "1 of 2 files were not scored" in err
    assert (folder / "eval" / "good.eval.json").is_file()
    assert not (folder / "eval" / "short.eval.json").exists()


@pytest.mark.parametrize("extra, message", [
    (["--per_segment", "x.tsv"], "--per_segment works with --hyp only"),
    (["--n_refs", "0"], "--n_refs must be at least 1"),
])
def test_flag_conflicts(files, tmp_path, capsys, extra, message):
    refs, keys, _ = files
    args = ["--refs", str(refs), "--keys", str(keys), "--no_meteor"]
    target = ["--input_dir", str(tmp_path)] if "--per_segment" in extra else ["--hyp", "h"]
    code, _, err = run(args + target + extra, capsys)
    assert code == 2 and message in err


def _meteor_available() -> bool:
    try:
        meteor.locate_meteor()
    except meteor.MeteorUnavailable:
        return False
    return True


@pytest.mark.slow
@pytest.mark.skipif(not _meteor_available(), reason="METEOR needs java and meteor-1.5.jar")
def test_meteor_by_definition_identity_and_disjoint():
    """METEOR is 1 for hypotheses equal to a reference and 0 without any match (one JVM)."""
    setup = meteor.locate_meteor()
    same = (["the cat sat on the mat", "hello there"],
            [["the cat sat on the mat", "hello there"], ["a dog", "bye"]])
    disjoint = (["zebra quantum", "xylophone"], [["the cat sat", "hello there"]])
    assert meteor.meteor_many(setup, [same, disjoint]) == [1.0, 0.0]
