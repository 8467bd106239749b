"""Helpers shared by the training tests: corpus and DB building, argv, log reading."""

from __future__ import annotations

import random
from pathlib import Path

WORDS = ("the a cat dog likes runs to home why not yes no maybe good bad movie music play game "
         "great idea think know love hate time day night").split()


def _turn(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 14)))


def write_corpus(path: Path, n_lines: int, seed: int) -> Path:
    """Multi-turn lines ``turn EOS turn ...<TAB>response`` of random words."""
    rng = random.Random(seed)
    with open(path, "w", encoding="utf-8") as handle:
        for _ in range(n_lines):
            context = " EOS ".join(_turn(rng) for _ in range(rng.randint(1, 3)))
            handle.write(f"{context}\t{_turn(rng)}\n")
    return path


def build_db(tsv: Path, *extra: str) -> Path:
    from dialogpt.data.prepro import main as prepro_main

    assert prepro_main(["--corpus", str(tsv), "--max_seq_len", "128", "--workers", "1",
                        *extra]) == 0
    db = tsv.with_name(f"{tsv.stem}.128len.db")
    assert db.is_dir()
    return db


def write_grounded_jsonl(path: Path, n_records: int, seed: int) -> Path:
    """GODEL records (Context, Knowledge, Response) of the grounded dummy data, one per line."""
    import json

    from dialogpt.demo.grounded_data import make_records

    with open(path, "w", encoding="utf-8") as handle:
        for record in make_records(n_records, seed):
            handle.write(json.dumps(record) + "\n")
    return path


def build_seq2seq_db(jsonl: Path, tokenizer_dir: Path, name: str, *extra: str) -> Path:
    """A seq2seq DB of ``jsonl`` (sources at most 96 tokens, targets 16) at ``NAME.db``."""
    from dialogpt.data.prepro import main as prepro_main

    db = jsonl.with_name(f"{name}.db")
    assert prepro_main(["--corpus", str(jsonl), "--tokenizer", str(tokenizer_dir), "--output",
                        str(db), "--workers", "1", "--max_source_len", "96",
                        "--max_target_len", "16", *extra]) == 0
    return db


def train_argv(model: Path, db: Path, eval_tsv: Path | None, output_dir: Path,
               **flags) -> list[str]:
    """LSP_train.py arguments for a quick CPU run; ``flags`` override the defaults below."""
    values = {"train_batch_size": 8, "gradient_accumulation_steps": 2, "num_optim_steps": 3,
              "valid_step": 1000, "learning_rate": 1e-3, "lr_schedule": "None", "pbar": "false",
              "seed": 7, **flags}
    argv = ["--model_name_or_path", str(model), "--train_input_file", str(db),
            "--output_dir", str(output_dir)]
    argv += ["--eval_input_file", str(eval_tsv)] if eval_tsv else ["--skip_eval"]
    for key, value in values.items():
        argv += [f"--{key}", str(value)]
    return argv


# Runs LSP_train in a child that kills itself with SIGKILL when optimizer step `kill_at` begins.
KILLER = """
import os, signal, sys
import torch
torch.set_num_threads(1)
from dialogpt.training import loop
kill_at, argv = int(sys.argv[1]), sys.argv[2:]
train_step, steps = loop.Trainer.train_step, []
def train_step_then_die(self, micro_batches):
    steps.append(1)
    if len(steps) == kill_at:
        os.kill(os.getpid(), signal.SIGKILL)
    return train_step(self, micro_batches)
loop.Trainer.train_step = train_step_then_die
from dialogpt.training.train import main
main(argv)
"""


def read_csv_rows(path: Path) -> list[dict[str, str]]:
    import csv

    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def poison_loss(monkeypatch, factor: float, on_call) -> None:
    """Multiply the training loss (and the token-loss sum it reports) by ``factor`` (inf, nan) on
    the forward calls (micro-batches, counted from 1, evaluation batches too) for which
    ``on_call(n)`` is true."""
    import torch

    from dialogpt.training.loss import CausalLMLoss

    forward = CausalLMLoss.forward
    calls = {"n": 0}

    def poisoned(self, *args, **kwargs):
        calls["n"] += 1
        token_loss, stats = forward(self, *args, **kwargs)
        if not on_call(calls["n"]):
            return token_loss, stats
        return token_loss * factor, torch.cat([stats[:1] * factor, stats[1:]])

    monkeypatch.setattr(CausalLMLoss, "forward", poisoned)


def launch(launcher_args: list[str], repo_root: Path, timeout: int = 300):
    """``python -m LAUNCHER_ARGS`` (a torch launcher and LSP_train.py with its flags) in the
    repository root, one thread per process; returns the completed process, output captured."""
    import os
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-m", *launcher_args], cwd=repo_root,
                          env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True,
                          text=True, timeout=timeout)
