"""Issue 26 (hardening), the training classes, through ``LSP_train.py``, ``prepro.py`` and
``plot.py``.

| class | before | after |
|---|---|---|
| Bad 2: `--resume auto` after a torn last line of train_log.jsonl | JSONDecodeError traceback; no resume until fixed by hand | the torn line dropped with a warning, the run continues; a damaged earlier line is an error naming it |
| Bad 3: plot.py on that log (or a run still writing) | traceback | the same rule |
| Weak 1: `prepro.py --force` on a DB a training is reading | replaced silently | refused while the training holds the DB (a shared run lock) |
| Weak 2: `--resume auto` choosing a checkpoint of the other kind | the message blamed the model flag | names the checkpoint it chose and why it does not fit |
| Weak 3: a full disk while writing a checkpoint | `unexpected pos 12608 vs 12500` | "no space left writing PATH" (a real full tmpfs; torch's writer fails) |
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from training_helpers import build_db, train_argv, write_corpus

from dialogpt.cli import run_main
from dialogpt.training.train import main

REPO = Path(__file__).resolve().parents[2]


def train(argv, capsys):
    code = run_main(main, argv)
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, err


def plot(run_dir, capsys):
    from dialogpt.plot import main as plot_main

    code = run_main(plot_main, [str(run_dir), "--formats", "svg"])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, err


def logged_steps(run_dir: Path) -> list[int]:
    return [json.loads(line)["global_step"]
            for line in (run_dir / "train_log.jsonl").read_text().splitlines()]


@pytest.mark.slow
def test_bad2_bad3_torn_last_log_line_dropped_damaged_middle_line_named(corpus, tiny_config,
                                                                          tmp_path, capsys):
    out = tmp_path / "run"
    assert train(train_argv(tiny_config, corpus["train"], None, out, num_optim_steps=2,
                            save_step=1), capsys)[0] == 0
    log = out / "train_log.jsonl"
    with open(log, "a", encoding="utf-8") as handle:
        handle.write('{"epoch": 1, "global_step": 3, "lo')  # the disk filled mid-append
    code, err = plot(out, capsys)
    assert code == 0 and "its last line (3) is incomplete (an interrupted write): dropped" in err
    assert (out / "curves.svg").is_file()
    code, err = train(train_argv(tiny_config, corpus["train"], None, out, num_optim_steps=3,
                                 save_step=1, resume="auto"), capsys)
    assert code == 0 and "train_log.jsonl: its last line (3) is incomplete" in err
    assert logged_steps(out) == [1, 2, 3]  # resumed from step 2; the torn row is gone

    lines = log.read_text().splitlines(keepends=True)
    log.write_text(lines[0] + "{\"epoch\": 1, \"glo\x00\x00\n" + "".join(lines[2:]))
    code, err = plot(out, capsys)
    assert code == 2 and f"error: {log} line 2 is damaged" in err
    code, err = train(train_argv(tiny_config, corpus["train"], None, out, num_optim_steps=4,
                                 resume="auto"), capsys)
    assert code == 2 and f"error: {log} line 2 is damaged" in err
    assert "Delete or repair that line" in err


def test_weak1_prepro_force_refuses_a_db_a_training_reads(tiny_config, tmp_path, capsys,
                                                          monkeypatch):
    from dialogpt.data.prepro import main as prepro_main
    from dialogpt.training.loop import Trainer

    tsv = write_corpus(tmp_path / "mine.tsv", 40, seed=5)
    db = build_db(tsv)
    rebuild = ["--corpus", str(tsv), "--max_seq_len", "128", "--workers", "1", "--force"]
    seen = []
    real_step = Trainer.train_step

    def step_then_rebuild(self, micro_batches):
        if not seen:  # while the training runs: another shell's prepro.py --force
            seen.append(run_main(prepro_main, rebuild))
        return real_step(self, micro_batches)

    monkeypatch.setattr(Trainer, "train_step", step_then_rebuild)
    code, err = train(train_argv(tiny_config, db, None, tmp_path / "run", num_optim_steps=1),
                      capsys)
    assert code == 0 and seen == [2]
    assert (f"error: --output {db} is being read by a running training (LSP_train.py "
            "--train_input_file)") in err
    monkeypatch.setattr(Trainer, "train_step", real_step)
    assert run_main(prepro_main, rebuild) == 0  # the training ended: the lock went with it
    assert not db.with_name(f".{db.name}.lock").exists()


def test_weak2_resume_auto_names_the_checkpoint_of_the_other_kind(corpus, grounded, tiny_config,
                                                                  tmp_path, capsys):
    out = tmp_path / "run"
    assert train(train_argv(tiny_config, corpus["tiny8"], None, out, num_optim_steps=1,
                            train_batch_size=4), capsys)[0] == 0
    code, err = train(train_argv(REPO / "configs" / "t5-tiny", grounded["train"], None, out,
                                 num_optim_steps=2, train_batch_size=4, resume="auto"), capsys)
    assert code == 2
    assert (f"error: --resume auto chose {out / 'checkpoint-step-1'}, a causal (DialoGPT TSV) "
            f"checkpoint (gpt2), but token DB {grounded['train']} holds seq2seq (GODEL) "
            "examples") in err
    assert "Pass a new --output_dir" in err


FULL_DISK = """
mount -t tmpfs -o size=40m tmpfs {out} && cd {repo} && exec {python} LSP_train.py {args}
"""


@pytest.mark.slow
def test_weak3_full_disk_while_writing_a_checkpoint_is_no_space_left(corpus, tiny_config,
                                                                     tmp_path):
    """A real 40 MB tmpfs: the weights (26 MB) and tokenizer fit, torch's writer of the training
    state (52 MB of Adam moments) hits the end of the disk."""
    out = tmp_path / "run"
    out.mkdir()
    probe = subprocess.run(["unshare", "-m", "sh", "-c", f"mount -t tmpfs -o size=1m tmpfs {out}"],
                           capture_output=True)
    if probe.returncode:
        pytest.skip("no private mount namespaces here (unshare -m / mount -t tmpfs refused)")
    args = " ".join(train_argv(tiny_config, corpus["train"], None, out, num_optim_steps=1))
    done = subprocess.run(["unshare", "-m", "sh", "-c", FULL_DISK.format(
        out=out, repo=REPO, python=sys.executable, args=args)], capture_output=True, text=True,
        timeout=600)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and "unexpected pos" not in done.stderr
    assert f"error: no space left writing {out / 'checkpoint-step-1'}" in done.stderr


def test_weak3_torch_unexpected_pos_on_a_full_disk_is_no_space_left(corpus, tiny_config, tmp_path,
                                                                    capsys, monkeypatch):
    """The default suite's twin of the tmpfs test: the message torch's writer gave on that full
    tmpfs (captured there), with the disk's free space as it was."""
    import shutil

    from dialogpt import fileio
    from dialogpt.training import checkpoint as ckpt

    def full_disk_save(*args, **kwargs):
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 576 vs 534")

    real_usage = shutil.disk_usage
    monkeypatch.setattr(ckpt.torch, "save", full_disk_save)
    monkeypatch.setattr(fileio.shutil, "disk_usage",
                        lambda path: real_usage(path)._replace(free=0))
    out = tmp_path / "run"
    code, err = train(train_argv(tiny_config, corpus["tiny8"], None, out, num_optim_steps=1,
                                 train_batch_size=4), capsys)
    assert code == 2 and "unexpected pos" not in err
    assert f"error: no space left writing {out / 'checkpoint-step-1'}" in err
