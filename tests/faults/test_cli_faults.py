"""Issue 14, end to end through the entry points: each fault ends in one clear message (exit 2,
no traceback) and loses nothing. Numbers in the test names are the issue's items."""

from __future__ import annotations

import errno
import json
import os

import pytest

from dialogpt.cli import run_main
from dialogpt.locking import RunLock


def run(main, argv, capsys):
    code = run_main(main, [str(a) for a in argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def generate(model, source, output, capsys, *extra):
    from dialogpt.decoding.generate_cli import main

    return run(main, ["--model", model, "--input", source, "--output", output, "--max_length", 3,
                      "--device", "cpu", *extra], capsys)


@pytest.fixture
def corpus(tmp_path):
    path = tmp_path / "train.tsv"
    path.write_text("hello there EOS how are you\tfine thanks\nwhat is up\tnothing much\n",
                    encoding="utf-8")
    return path


def prepro(argv, capsys):
    from dialogpt.data.prepro import main

    return run(main, [*argv, "--workers", 1], capsys)


# 1: one run per output
def test_1_prepro_refuses_a_db_another_run_is_building(corpus, capsys):
    db = corpus.with_name("train.128len.db")
    with RunLock(db, inside=False, flag="--output"):
        code, _, err = prepro(["--corpus", corpus], capsys)
    assert code == 2 and "in use by another run" in err and f"process {os.getpid()}" in err
    assert not db.exists()
    assert prepro(["--corpus", corpus], capsys)[0] == 0 and db.is_dir()


def test_1_demo_refuses_a_directory_another_demo_uses(tmp_path, capsys):
    from dialogpt.demo.pipeline import main

    with RunLock(tmp_path / "demo"):
        code, _, err = run(main, ["--output_dir", tmp_path / "demo",
                                  "--data_dir", tmp_path / "data"], capsys)
    assert code == 2 and "--output_dir" in err and "in use by another run" in err
    assert not (tmp_path / "data").exists()


# 2: an output that is an input
def test_2_generate_output_equal_to_input_is_refused(tiny_model_dir, tmp_path, capsys):
    source = tmp_path / "in.tsv"
    source.write_text("hello\tref\n", encoding="utf-8")
    code, _, err = generate(tiny_model_dir, source, tmp_path / "." / "in.tsv", capsys)
    assert code == 2 and "same file as --input" in err
    assert source.read_text(encoding="utf-8") == "hello\tref\n"


def test_2_batch_eval_per_segment_equal_to_hyp_is_refused(tmp_path, capsys):
    from dialogpt.evaluation.batch_eval import main

    refs, hyp = tmp_path / "refs.txt", tmp_path / "hyp.txt"
    refs.write_text("k1\t1|the cat\t1|human\n", encoding="utf-8")
    hyp.write_text("k1\t-\t-\t-\t-\t-\tthe cat\n", encoding="utf-8")
    (tmp_path / "alias.txt").symlink_to(hyp)
    code, _, err = run(main, ["--refs", refs, "--hyp", hyp, "--per_segment",
                              tmp_path / "alias.txt", "--no_meteor"], capsys)
    assert code == 2 and "same file as --hyp" in err
    assert hyp.read_text(encoding="utf-8") == "k1\t-\t-\t-\t-\t-\tthe cat\n"


# 4 (loading side): damaged or non-finite checkpoints
def test_4_truncated_weights_named_by_every_loader(model_copy, tmp_path, capsys):
    from dialogpt.fileio import write_manifest

    weights = model_copy / "model.safetensors"
    data = weights.read_bytes()
    source = tmp_path / "in.tsv"
    source.write_text("hello\tref\n", encoding="utf-8")
    weights.write_bytes(data[: len(data) // 2])  # no manifest: the load itself fails
    code, _, err = generate(model_copy, source, tmp_path / "out.txt", capsys)
    assert code == 2 and str(model_copy) in err and "damaged or truncated" in err
    weights.write_bytes(data)
    write_manifest(model_copy)
    weights.write_bytes(data[:-8] + b"\0" * 8)  # same size, different bytes: the manifest knows
    code, _, err = generate(model_copy, source, tmp_path / "out.txt", capsys)
    assert code == 2 and f"{weights} is damaged: its sha256 differs" in err
    assert not (tmp_path / "out.txt").exists()
    from dialogpt.modeling import load_model
    with pytest.raises(Exception, match="model.safetensors is damaged"):
        load_model("configs/tiny", init_checkpoint=weights)


def test_4_non_finite_weights_are_refused(model_copy):
    import torch
    from safetensors.torch import load_file, save_file

    from dialogpt.cli import UserError
    from dialogpt.modeling import load_model

    state = load_file(model_copy / "model.safetensors")
    state["transformer.h.0.mlp.c_fc.weight"][0, 0] = float("nan")
    save_file(state, model_copy / "model.safetensors", metadata={"format": "pt"})
    with pytest.raises(UserError, match="c_fc.weight holds NaN or infinite"):
        load_model(model_copy)
    state["transformer.h.0.mlp.c_fc.weight"][0, 0] = torch.inf
    save_file(state, model_copy.parent / "bad.safetensors", metadata={"format": "pt"})
    (model_copy / "model.safetensors").unlink()
    with pytest.raises(UserError, match="bad.safetensors: weight .* NaN or infinite"):
        load_model(model_copy / "config.json", init_checkpoint=model_copy.parent / "bad.safetensors")


# 7: disk full: one message, exit 2, nothing half-written
def test_7_disk_full_in_generate_and_prepro(tiny_model_dir, corpus, tmp_path, capsys, monkeypatch):
    from dialogpt import fileio

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(fileio.os, "fsync", full)
    out = tmp_path / "out.txt"
    code, _, err = generate(tiny_model_dir, corpus, out, capsys)
    assert code == 2 and f"error: no space left writing {out}" in err
    db = tmp_path / "x.db"
    code, _, err = prepro(["--corpus", corpus, "--output", db], capsys)
    assert code == 2 and f"error: no space left writing {db}" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["train.tsv"]


# 9: paths of the wrong kind, refused before any work
def test_9_wrong_kinds_of_path(tiny_model_dir, corpus, tmp_path, capsys):
    from dialogpt.convert import main as convert_main

    source = tmp_path / "in.tsv"
    source.write_text("hello\tref\n", encoding="utf-8")
    code, _, err = generate("no/such/model", source, tmp_path, capsys)
    assert code == 2 and f"--output {tmp_path} is a directory" in err
    code, _, err = prepro(["--corpus", tmp_path], capsys)
    assert code == 2 and "is a directory" in err
    code, _, err = prepro(["--corpus", corpus, "--output", source], capsys)
    assert code == 2 and f"--output {source} is a file" in err
    code, _, err = run(convert_main, ["--checkpoint", tiny_model_dir / "model.safetensors",
                                      "--config", "configs/tiny", "--output_dir", source], capsys)
    assert code == 2 and f"--output_dir {source} is a file" in err


# 11: a pickle with code: refused without a traceback or torch's unsafe advice
def test_11_pickle_with_code_refused_without_unsafe_advice(model_copy, tmp_path, capsys):
    import torch

    from dialogpt.decoding.generate_cli import main

    class Payload:
        def __reduce__(self):
            return (os.system, ("true",))

    (model_copy / "model.safetensors").unlink()
    torch.save({"x": Payload()}, model_copy / "pytorch_model.bin")
    source = tmp_path / "in.tsv"
    source.write_text("hello\tref\n", encoding="utf-8")
    for argv in (["--model", model_copy], ["--model", "configs/tiny", "--init_checkpoint",
                                           model_copy / "pytorch_model.bin"]):
        code, _, err = run(main, [*argv, "--input", source, "--output", tmp_path / "o.txt",
                                  "--device", "cpu"], capsys)
        assert code == 2 and "refusing to load" in err and "pytorch_model.bin" in err
        assert "weights_only" not in err and "likely succeed" not in err
        assert "GLOBAL" in err  # what was found


# 14: generate on an empty input
def test_14_generate_refuses_an_empty_input(tiny_model_dir, tmp_path, capsys):
    source = tmp_path / "empty.tsv"
    source.write_text("")
    code, _, err = generate(tiny_model_dir, source, tmp_path / "out.txt", capsys)
    assert code == 2 and "has no lines" in err and not (tmp_path / "out.txt").exists()


# 16: small wrongs
def test_16_converted_model_files_are_world_readable_with_manifest(tiny_model_dir, tmp_path,
                                                                  capsys):
    from dialogpt.convert import main

    umask = os.umask(0o022)
    try:
        code, _, _ = run(main, ["--checkpoint", tiny_model_dir / "model.safetensors",
                                "--config", tiny_model_dir, "--output_dir", tmp_path / "conv"],
                         capsys)
    finally:
        os.umask(umask)
    assert code == 0
    assert (tmp_path / "conv" / "model.safetensors").stat().st_mode & 0o777 == 0o644
    recorded = json.loads((tmp_path / "conv" / "manifest.json").read_text())["files"]
    assert recorded["model.safetensors"]["size"] == (tmp_path / "conv/model.safetensors").stat().st_size


def test_16_interact_truncation_note_reports_the_limit():
    from dialogpt.decoding.context import ContextWindow
    from dialogpt.decoding.interact import truncation_note

    window = ContextWindow(ids=list(range(50)), turns_kept=1, turns_dropped_for_tokens=2,
                           tokens_cut=0)
    note = truncation_note(window, 60)
    assert "60-token limit" in note and "50 tokens kept" in note


def test_16_batch_eval_says_it_left_out_the_human_reference(tmp_path, capsys):
    from dialogpt.evaluation.batch_eval import main

    refs, hyp = tmp_path / "refs.txt", tmp_path / "hyp.txt"
    refs.write_text("k1\t1|the cat\t1|human\n", encoding="utf-8")
    hyp.write_text("k1\t-\t-\t-\t-\t-\tthe cat\n", encoding="utf-8")
    code, out, _ = run(main, ["--refs", refs, "--hyp", hyp, "--no_meteor"], capsys)
    assert code == 0 and "reference #1" in out and "--vshuman 1" in out
    code, out, _ = run(main, ["--refs", refs, "--hyp", hyp, "--no_meteor", "--vshuman", "-1"],
                       capsys)
    assert "all references used" in out


# 4 (resume side): --resume auto falls back to the newest intact checkpoint
def test_4_resume_auto_skips_damaged_checkpoints_with_a_warning(tmp_path, caplog):
    import logging

    from dialogpt.cli import UserError
    from dialogpt.fileio import write_manifest
    from dialogpt.training import checkpoint as ckpt

    for step in (2, 4, 6):
        path = ckpt.checkpoint_path(tmp_path, step)
        path.mkdir()
        for name in ("config.json", "model.safetensors", ckpt.STATE_FILE, ckpt.SUMMARY_FILE):
            (path / name).write_bytes(b"0123456789" * step)
        write_manifest(path)
    newest = ckpt.checkpoint_path(tmp_path, 6) / "model.safetensors"
    newest.write_bytes(newest.read_bytes()[:13])  # truncated copy
    with caplog.at_level(logging.WARNING):
        assert ckpt.resolve_resume("auto", 0, tmp_path) == ckpt.checkpoint_path(tmp_path, 4)
    assert "skipping checkpoint-step-6" in caplog.text and "model.safetensors is damaged" in caplog.text
    with pytest.raises(UserError, match="checkpoint-step-6.*damaged"):
        ckpt.resolve_resume(str(ckpt.checkpoint_path(tmp_path, 6)), 0, tmp_path)
    for step in (2, 4):
        (ckpt.checkpoint_path(tmp_path, step) / ckpt.STATE_FILE).write_bytes(b"x" * (10 * step))
    with pytest.raises(UserError, match="every checkpoint in .* is damaged"):
        ckpt.resolve_resume("auto", 0, tmp_path)


# 12: decoding flags that have no effect with the chosen method are named
@pytest.mark.parametrize("flags, expected", [
    (["--decoding", "sample", "--num_beams", "8"], ["--num_beams 8"]),
    (["--top_k", "20", "--temperature", "0.7"], ["--top_k 20", "--temperature 0.7"]),
    (["--decoding", "beam", "--top_p", "0.9"], ["--top_p 0.9"]),
    (["--decoding", "sample", "--num_candidates", "5"], ["--num_candidates 5"]),
    (["--decoding", "sample", "--top_k", "20", "--temperature", "0.7"], []),
])
def test_12_ignored_decoding_flags_are_warned(tiny_model_dir, tmp_path, capsys, flags, expected):
    source = tmp_path / "in.tsv"
    source.write_text("hello\tref\n", encoding="utf-8")
    code, _, err = generate(tiny_model_dir, source, tmp_path / "out.txt", capsys, *flags)
    assert code == 0
    warned = [line for line in err.splitlines() if "ignored flags" in line]
    if not expected:
        assert warned == []
    else:
        assert len(warned) == 1 and all(flag in warned[0] for flag in expected)


# 2: every CLI that writes a file refuses to write over one of its inputs
def test_2_dstc_helpers_refuse_to_overwrite_their_input(tmp_path, capsys):
    from dialogpt.evaluation.dstc_data import extract_keys_main

    source = tmp_path / "refs.txt"
    source.write_text("k1\t1|a\t1|b\n", encoding="utf-8")
    code, _, err = run(extract_keys_main, ["--input", source, "--out", source], capsys)
    assert code == 2 and "same file as --input" in err
    assert source.read_text(encoding="utf-8") == "k1\t1|a\t1|b\n"


def test_4_convert_names_a_truncated_checkpoint(tiny_model_dir, tmp_path, capsys):
    from dialogpt.convert import main

    broken = tmp_path / "small_ft.safetensors"
    data = (tiny_model_dir / "model.safetensors").read_bytes()
    broken.write_bytes(data[: len(data) // 3])
    code, _, err = run(main, ["--checkpoint", broken, "--config", tiny_model_dir,
                              "--output_dir", tmp_path / "out"], capsys)
    assert code == 2 and f"cannot read {broken}" in err and "damaged or truncated" in err
    assert not (tmp_path / "out").exists()
