"""``python demo.py --task finetune``: few-shot adaptation of a pretrained GODEL, shown end to end.

Stages (run by ``pipeline.run_stages``: each skipped on a re-run once finished):

1. ``pretrained`` the grounded demo's tiny T5 (``demo.py --task grounded`` into
                  ``--pretrained_dir``, reused when it is there), or ``--model DIR``
2. ``data``       a synthetic Wizard of Wikipedia in ParlAI's JSON (``finetune_data``): answers
                  that only the checked sentence gives, about attributes the pretrained model
                  never saw
3. ``convert``    ``convert_task.py wow --train shots --shots K --seed S`` for every K
4. ``prepro``     ``prepro.py`` on each K's ``train.jsonl``
5. ``train``      ``LSP_train.py`` from the pretrained checkpoint on each K: every weight
                  (full), and LoRA adapters (``--lora_r``)
6. ``generate``   ``generate.py`` (greedy) on the test records: the pretrained model (zero-shot)
                  and every fine-tuned one
7. ``evaluate``   ``batch_eval.py --task wow`` (BLEU, ROUGE, F1, knowledge F1) and the answer
                  accuracy (the response states the value the checked sentence gives)
8. ``report``     ``REPORT.md`` (the table, the curve), ``fewshot_curve.png``, ``report.json``

Every step is seeded (data, sampling, training, greedy decoding), so a re-run gives the same
table. Flags this command does not know go to every ``LSP_train.py`` run unchanged.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import io
import json
import logging
import runpy
import shutil
from pathlib import Path

from dialogpt.cli import UserError

logger = logging.getLogger("dialogpt.demo")

STAGES = ("pretrained", "data", "convert", "prepro", "train", "generate", "evaluate", "report")
METHODS = ("full", "lora")
ZERO_SHOT = "zero-shot"
SOURCE_LEN = 128
TARGET_LEN = 24
"""prepro and decoding lengths: the longest source (persona, two earlier exchanges, the question,
the checked sentence) is about 60 tokens of the grounded demo's vocabulary, a response about 12."""


def add_finetune_args(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("--task finetune (few-shot GODEL)")
    group.add_argument("--pretrained_dir", default="models/demo-grounded",
                       help="output folder of the grounded demo whose tiny T5 is fine-tuned "
                            "(built there with its defaults when absent; --model tiny only)")
    group.add_argument("--num_train_dialogs", type=int, default=300,
                       help="synthetic WoW training dialogs the --shots are sampled from")
    group.add_argument("--shots", type=int, nargs="+", default=[10, 50, 200],
                       help="training dialogs sampled per run (convert_task.py --shots)")
    group.add_argument("--finetune_epochs", type=float, default=8,
                       help="passes over the K dialogs' examples per run (steps = epochs x "
                            "examples / batch size, at least --finetune_min_steps)")
    group.add_argument("--finetune_min_steps", type=int, default=100,
                       help="fewest optimizer steps of a run (the small K's)")
    group.add_argument("--finetune_batch_size", type=int, default=16,
                       help="examples per fine-tuning step")
    group.add_argument("--finetune_lr", type=float, default=2e-3,
                       help="peak learning rate of full fine-tuning (linear warm-up and decay)")
    group.add_argument("--lora_lr", type=float, default=1e-2,
                       help="peak learning rate of the LoRA runs")
    group.add_argument("--finetune_lora_r", type=int, default=8,
                       help="LoRA rank of the LoRA runs")
    group.add_argument("--finetune_seed", type=int, default=42,
                       help="seed of the synthetic data, the dialog sampling and every "
                            "training run")


def validate(demo) -> None:
    """Checks that need no work, before any stage starts."""
    args = demo.args
    if not args.shots or min(args.shots) < 1:
        raise UserError("--shots needs one or more dialog counts >= 1")
    if max(args.shots) > args.num_train_dialogs:
        raise UserError(f"--shots {max(args.shots)} exceeds the {args.num_train_dialogs} "
                        "synthetic training dialogs")
    if not args.finetune_epochs > 0:
        raise UserError(f"--finetune_epochs must be > 0, got {args.finetune_epochs}")
    for flag in ("finetune_min_steps", "finetune_batch_size", "finetune_lora_r"):
        if getattr(args, flag) < 1:
            raise UserError(f"--{flag} must be at least 1")
    if args.model != "tiny" and not Path(args.model).is_dir():
        raise UserError(f"--model {args.model!r}: with --task finetune expected tiny (the "
                        "grounded demo's model) or a local seq2seq checkpoint directory")
    from dialogpt.demo.stage_options import check_train_flags

    check_train_flags(demo.train_flags)


def finetune_options(demo) -> dict[str, dict]:
    """Per stage, the flags its output depends on (a change redoes it and every later stage)."""
    args = demo.args
    data = {"data_dir": str(demo.data.resolve()), "seed": args.finetune_seed,
            "dialogs": args.num_train_dialogs}
    return {"pretrained": {"model": args.model, "pretrained_dir": args.pretrained_dir},
            "data": data, "convert": {"shots": args.shots, "seed": args.finetune_seed},
            "prepro": {"max_target_len": TARGET_LEN},
            "train": {"epochs": args.finetune_epochs, "min_steps": args.finetune_min_steps,
                      "batch": args.finetune_batch_size,
                      "lr": args.finetune_lr, "lora_lr": args.lora_lr,
                      "lora_r": args.finetune_lora_r, "seed": args.finetune_seed,
                      "train_flags": list(demo.train_flags)},
            "generate": {}, "evaluate": {}, "report": {}}


def stage_pretrained(demo, results, demo_main) -> dict:
    """The grounded demo's checkpoint and tokenizer (the demo runs only its unfinished stages);
    ``demo_main`` is ``demo.py``'s entry point, handed in by the pipeline that runs this mode."""
    if demo.args.model != "tiny":
        return {"checkpoint": str(Path(demo.args.model).resolve()), "tokenizer": None}
    from dialogpt.demo.stages import read_marker

    out = Path(demo.args.pretrained_dir)
    data = demo.data / "pretrain-data"
    stages = out / "stages"
    if read_marker(stages, "train") is None:
        logger.info("building the pretrained model: demo.py --task grounded --output_dir %s", out)
        if demo_main(["--task", "grounded", "--output_dir", str(out), "--data_dir", str(data)]):
            raise UserError(f"demo.py --task grounded failed; see {out}")
    train, tokenizer = read_marker(stages, "train"), read_marker(stages, "tokenizer")
    if train is None or tokenizer is None:
        raise UserError(f"{out} holds no finished grounded demo; remove it and run again")
    return {"checkpoint": train["result"]["checkpoint"],
            "tokenizer": tokenizer["result"].get("tokenizer")}


def stage_data(demo, results) -> dict:
    from dialogpt.demo.finetune_data import WowSpec, write_wow_files

    spec = WowSpec(n_train=demo.args.num_train_dialogs, seed=demo.args.finetune_seed)
    paths = write_wow_files(demo.data / "wow", spec)
    return {"files": {split: str(path) for split, path in paths.items()},
            "dialogs": {"train": spec.n_train, "valid": spec.n_valid, "test": spec.n_test}}


def run_convert_task(argv: list[str]) -> int:
    """``convert_task.py ARGV`` in this process (through the documented command line)."""
    from dialogpt.demo.models import REPO_ROOT

    script = REPO_ROOT / "convert_task.py"
    if not script.exists():
        raise UserError(f"{script} is missing: the wow converter is needed for this demo")
    import sys

    saved = sys.argv
    sys.argv = [str(script), *argv]
    try:
        runpy.run_path(str(script), run_name="__main__")
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        sys.argv = saved
    return 0


def shots_dir(demo, shots: int) -> Path:
    return demo.data / f"shots-{shots}"


def stage_convert(demo, results) -> dict:
    counts = {}
    for shots in demo.args.shots:
        out = shots_dir(demo, shots)
        rc = run_convert_task(["wow", "--input", str(demo.data / "wow"), "--output", str(out),
                               "--train", "shots", "--shots", str(shots),
                               "--seed", str(demo.args.finetune_seed)])
        if rc:
            raise UserError(f"convert_task.py wow failed for --shots {shots} (exit {rc})")
        counts[str(shots)] = {split: _count_lines(out / f"{split}.jsonl")
                              for split in ("train", "valid", "test")}
    return {"records": counts}


def _count_lines(path: Path) -> int:
    with open(path, encoding="utf-8") as handle:
        return sum(1 for _ in handle)


def _tokenizer(results) -> str:
    pretrained = results["pretrained"]
    return pretrained["tokenizer"] or pretrained["checkpoint"]


def stage_prepro(demo, results) -> dict:
    from dialogpt.data.prepro import main as prepro_main

    dbs = {}
    for shots in demo.args.shots:
        folder = shots_dir(demo, shots)
        db = folder / f"train.{SOURCE_LEN}src{TARGET_LEN}tgt.db"
        rc = prepro_main(["--corpus", str(folder / "train.jsonl"), "--tokenizer",
                          _tokenizer(results), "--template", "card",
                          "--max_source_len", str(SOURCE_LEN), "--max_target_len",
                          str(TARGET_LEN), "--output", str(db), "--force"])
        if rc:
            raise UserError(f"prepro.py failed on {folder / 'train.jsonl'} (exit {rc})")
        dbs[str(shots)] = str(db)
    return {"dbs": dbs}


def run_name(shots: int, method: str) -> str:
    return f"k{shots}-{method}"


def stage_train(demo, results) -> dict:
    from dialogpt.demo.training import latest_checkpoint, run_training

    args = demo.args
    checkpoints, steps_of = {}, {}
    for shots in args.shots:
        examples = results["convert"]["records"][str(shots)]["train"]
        steps = run_steps(examples, args.finetune_epochs, args.finetune_batch_size,
                          args.finetune_min_steps)
        for method in METHODS:
            name = run_name(shots, method)
            train_dir = demo.out / "runs" / name
            lora = method == "lora"
            flags = ["--model_name_or_path", results["pretrained"]["checkpoint"],
                     "--tokenizer", _tokenizer(results),
                     "--train_input_file", results["prepro"]["dbs"][str(shots)],
                     "--eval_input_file", str(shots_dir(demo, shots) / "valid.jsonl"),
                     "--output_dir", str(train_dir), "--seed", str(args.finetune_seed),
                     "--num_optim_steps", str(steps), "--valid_step", str(steps),
                     "--save_step", str(steps),
                     "--train_batch_size", str(args.finetune_batch_size),
                     "--gradient_accumulation_steps", "1", "--eval_batch_size", "64",
                     "--max_seq_length", str(SOURCE_LEN),
                     "--learning_rate", str(args.lora_lr if lora else args.finetune_lr),
                     "--lr_schedule", "BERT", "--warmup_proportion", "0.1",
                     "--weight_decay", "0", "--eval_at_start", "false", "--pbar", "false",
                     "--resume", "auto"]
            if lora:
                flags += ["--lora_r", str(args.finetune_lora_r), "--lora_dropout", "0"]
            run_training(flags + demo.train_flags, train_dir)
            checkpoints[name] = str(latest_checkpoint(train_dir))
            steps_of[name] = steps
    return {"checkpoints": checkpoints, "steps": steps_of}


def run_steps(examples: int, epochs: float, batch_size: int, min_steps: int) -> int:
    """``ceil(epochs x examples / batch_size)``, at least ``min_steps``."""
    import math

    return max(min_steps, math.ceil(epochs * examples / batch_size))


def test_records(demo) -> Path:
    return shots_dir(demo, demo.args.shots[0]) / "test.jsonl"


def responses_path(demo, name: str) -> Path:
    return demo.out / "responses" / f"{name}.resp.txt"


def systems(demo, results) -> dict[str, str]:
    """``{name: checkpoint}``: zero-shot first, then each K's full and LoRA runs."""
    return {ZERO_SHOT: results["pretrained"]["checkpoint"], **results["train"]["checkpoints"]}


def stage_generate(demo, results) -> dict:
    from dialogpt.decoding.generate_cli import main as generate_main

    for name, checkpoint in systems(demo, results).items():
        rc = generate_main(["--model", checkpoint, "--tokenizer", _tokenizer(results),
                            "--input", str(test_records(demo)),
                            "--output", str(responses_path(demo, name)), "--decoding", "greedy",
                            "--max_length", str(TARGET_LEN), "--batch_size", "64"])
        if rc:
            raise UserError(f"generate.py failed for {name} (exit {rc})")
    return {"responses": {name: str(responses_path(demo, name))
                          for name in systems(demo, results)}}


def stage_evaluate(demo, results) -> dict:
    """``batch_eval.py --task wow`` of every system, and its answer accuracy."""
    from dialogpt.evaluation.batch_eval import main as eval_main

    metrics = {}
    for name, responses in results["generate"]["responses"].items():
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            rc = eval_main(["--refs", str(test_records(demo)), "--hyp", responses, "--task",
                            "wow", "--no_dstc", "--json"])
        if rc:
            raise UserError(f"batch_eval.py failed for {name} (exit {rc})")
        metrics[name] = json.loads(printed.getvalue().strip().splitlines()[-1])
        metrics[name]["answer_accuracy"] = answer_accuracy(test_records(demo), Path(responses))
    return {"metrics": metrics}


def answer_accuracy(references: Path, responses: Path) -> float:
    """Share of responses whose words include the value the record's checked sentence gives."""
    from dialogpt.demo.finetune_data import answer_value
    from dialogpt.evaluation.grounded_metrics import normalize_answer

    with open(references, encoding="utf-8") as refs, open(responses, encoding="utf-8") as hyps:
        pairs = [(json.loads(ref), hyp) for ref, hyp in zip(refs, hyps)]
    hits = sum(answer_value(record["Knowledge"]) in normalize_answer(hyp).split()
               for record, hyp in pairs)
    return hits / len(pairs) if pairs else 0.0


def stage_report(demo, results) -> dict:
    from dialogpt.demo.finetune_report import write_finetune_report

    return write_finetune_report(demo, results, test_records(demo))


def clear_for_redo(demo, name: str) -> None:
    """A redone training stage starts its runs afresh (``--resume auto`` would continue them)."""
    if name == "train":
        shutil.rmtree(demo.out / "runs", ignore_errors=True)


def finetune_stages(demo_main):
    """The stages in order; ``demo_main`` (``demo.py``'s entry point) builds the pretrained
    model with ``--task grounded``."""
    stages = [(name, globals()[f"stage_{name}"]) for name in STAGES]
    return [(name, functools.partial(stage, demo_main=demo_main) if name == "pretrained" else
             stage) for name, stage in stages]


def next_steps(demo, results) -> str:
    best = run_name(max(demo.args.shots), "full")
    checkpoint = results.get("train", {}).get("checkpoints", {}).get(best, "CHECKPOINT")
    tokenizer = _tokenizer(results) if "pretrained" in results else "TOKENIZER"
    test = test_records(demo)
    return "\n".join([
        f"Report: {demo.out / 'REPORT.md'}",
        "Next:",
        f"  decode:  python generate.py --model {checkpoint} --tokenizer {tokenizer} "
        f"--input {test} --output out.resp.txt",
        f"  score:   python batch_eval.py --refs {test} --hyp out.resp.txt --task wow --no_dstc",
        "  your data: python convert_task.py wow --input WOW_DIR --output DIR --train shots "
        "--shots 50, then LSP_train.py (add --lora_r 8 for adapters)",
    ])
