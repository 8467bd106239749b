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

import functools
import logging
import shutil
from pathlib import Path

from dialogpt.cli import UserError
from dialogpt.demo.finetune_data import ATTRIBUTES as ATTRIBUTE_NAMES

logger = logging.getLogger("dialogpt.demo")

STAGES = ("pretrained", "data", "convert", "prepro", "train", "generate", "evaluate", "report")
METHODS = ("full", "lora")
ZERO_SHOT = "zero-shot"
SOURCE_LEN = 128
TARGET_LEN = 24
"""prepro and decoding lengths: the longest source (persona, two earlier exchanges, the question,
the checked sentence) is about 60 tokens of the grounded demo's vocabulary, a response about 12."""


PRETRAINING = {"distractors": 0, "history_turns": 2}
"""How the pretrained model is built (``demo.py --task grounded`` flags): knowledge holding only
the fact asked about, contexts with up to two earlier exchanges, as WoW's have. With a distractor
the tiny T5 mostly guesses a value of the asked attribute; with one fact it learns to copy it."""


def validate(demo) -> None:
    """Checks that need no work, before any stage starts (``DemoConfig.validate`` has checked
    the flags' values)."""
    if demo.config.model != "tiny" and not Path(demo.config.model).is_dir():
        raise UserError(f"--model {demo.config.model!r}: with --task finetune expected tiny (the "
                        "grounded demo's model) or a local seq2seq checkpoint directory")
    from dialogpt.demo.stage_options import check_train_flags

    check_train_flags(demo.train_flags)


def set_threads(demo) -> None:
    """``--finetune_threads`` for every stage (0 leaves torch's default)."""
    if demo.config.finetune_threads:
        import torch

        torch.set_num_threads(demo.config.finetune_threads)


def finetune_options(demo) -> dict[str, dict]:
    """Per stage, the flags its output depends on (a change redoes it and every later stage)."""
    config = demo.config
    data = {"data_dir": str(demo.data.resolve()), "seed": config.finetune_seed,
            "dialogs": config.num_train_dialogs, "attributes": sorted(ATTRIBUTE_NAMES)}
    return {"pretrained": {"model": config.model, "pretrained_dir": config.pretrained_dir},
            "data": data, "convert": {"shots": config.shots, "seed": config.finetune_seed},
            "prepro": {"max_target_len": TARGET_LEN},
            "train": {"epochs": config.finetune_epochs, "min_steps": config.finetune_min_steps,
                      "batch": config.finetune_batch_size,
                      "lr": config.finetune_lr, "lora_lr": config.lora_lr,
                      "lora_r": config.finetune_lora_r, "seed": config.finetune_seed,
                      "train_flags": list(demo.train_flags)},
            "generate": {}, "evaluate": {}, "report": {}}


def stage_pretrained(demo, results, run_demo) -> dict:
    """The grounded demo's checkpoint and tokenizer: a finished grounded demo in
    ``--pretrained_dir`` as it is, else one built there with :data:`PRETRAINING`; ``run_demo`` is
    the pipeline's entry point for a ``DemoConfig``, handed in by the pipeline running this mode."""
    if demo.config.model != "tiny":
        return {"checkpoint": str(Path(demo.config.model).resolve()), "tokenizer": None}
    from dialogpt.demo.demo_config import DemoConfig
    from dialogpt.demo.stages import read_marker

    out = Path(demo.config.pretrained_dir)
    stages = out / "stages"
    if read_marker(stages, "train") is None:
        logger.info("building the pretrained model: demo.py --task grounded --output_dir %s %s",
                    out, " ".join(f"--{name} {value}" for name, value in PRETRAINING.items()))
        grounded = DemoConfig(task="grounded", output_dir=str(out),
                              data_dir=str(demo.data / "pretrain-data"), **PRETRAINING)
        grounded.validate()
        if run_demo(grounded):
            raise UserError(f"demo.py --task grounded failed; see {out}")
    train, tokenizer = read_marker(stages, "train"), read_marker(stages, "tokenizer")
    if train is None or tokenizer is None:
        raise UserError(f"{out} holds no finished grounded demo; remove it and run again")
    return {"checkpoint": train["result"]["checkpoint"],
            "tokenizer": tokenizer["result"].get("tokenizer")}


def stage_data(demo, results) -> dict:
    from dialogpt.demo.finetune_data import WowSpec, write_wow_files

    spec = WowSpec(n_train=demo.config.num_train_dialogs, seed=demo.config.finetune_seed)
    paths = write_wow_files(demo.data / "wow", spec)
    return {"files": {split: str(path) for split, path in paths.items()},
            "dialogs": {"train": spec.n_train, "valid": spec.n_valid, "test": spec.n_test}}


def shots_dir(demo, shots: int) -> Path:
    return demo.data / f"shots-{shots}"


def stage_convert(demo, results) -> dict:
    """``convert_task.py wow --train shots --shots K --seed S`` for every K."""
    from dialogpt.data.tasks.cli import convert
    from dialogpt.data.tasks.convert_config import ConvertConfig

    counts = {}
    for shots in demo.config.shots:
        out = shots_dir(demo, shots)
        convert(ConvertConfig(task="wow", input=demo.data / "wow", output=out, train="shots",
                              shots=shots, seed=demo.config.finetune_seed, force=True))
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
    from dialogpt.demo.tool_calls import build_db

    dbs = {}
    for shots in demo.config.shots:
        folder = shots_dir(demo, shots)
        dbs[str(shots)] = str(build_db(
            corpus=str(folder / "train.jsonl"), tokenizer=_tokenizer(results), template="card",
            max_source_len=SOURCE_LEN, max_target_len=TARGET_LEN,
            output=str(folder / f"train.{SOURCE_LEN}src{TARGET_LEN}tgt.db"), force=True))
    return {"dbs": dbs}


def run_name(shots: int, method: str) -> str:
    return f"k{shots}-{method}"


def stage_train(demo, results) -> dict:
    from dialogpt.demo.training import latest_checkpoint, train, train_config

    checkpoints, steps_of = {}, {}
    for shots in demo.config.shots:
        examples = results["convert"]["records"][str(shots)]["train"]
        steps = run_steps(examples, demo.config.finetune_epochs, demo.config.finetune_batch_size,
                          demo.config.finetune_min_steps)
        for method in METHODS:
            name = run_name(shots, method)
            train_dir = demo.out / "runs" / name
            settings = train_settings(demo, results, shots, steps, method, train_dir)
            train(train_config(settings, demo.train_flags))
            checkpoints[name] = str(latest_checkpoint(train_dir))
            steps_of[name] = steps
    return {"checkpoints": checkpoints, "steps": steps_of}


def train_settings(demo, results, shots: int, steps: int, method: str, train_dir: Path) -> dict:
    """The ``TrainConfig`` fields of one run: ``steps`` from the pretrained checkpoint on K
    dialogs, every weight (``full``) or LoRA adapters (``lora``), a linear warm-up and decay."""
    config, lora = demo.config, method == "lora"
    settings = {"model_name_or_path": results["pretrained"]["checkpoint"],
                "tokenizer": _tokenizer(results),
                "train_input_file": results["prepro"]["dbs"][str(shots)],
                "eval_input_file": str(shots_dir(demo, shots) / "valid.jsonl"),
                "output_dir": str(train_dir), "seed": config.finetune_seed,
                "num_optim_steps": steps, "valid_step": steps, "save_step": steps,
                "train_batch_size": config.finetune_batch_size,
                "gradient_accumulation_steps": 1, "eval_batch_size": 64,
                "max_seq_length": SOURCE_LEN,
                "learning_rate": config.lora_lr if lora else config.finetune_lr,
                "lr_schedule": "BERT", "warmup_proportion": 0.1, "weight_decay": 0.0,
                "eval_at_start": False, "pbar": False, "resume": "auto"}
    if lora:
        # every linear layer: on this 2+2-layer model, q and v alone (3% of the weights) barely
        # moved off zero-shot, at any learning rate tried
        settings.update(lora_r=config.finetune_lora_r, lora_dropout=0.0,
                        lora_target_modules=["all-linear"])
    return settings


def run_steps(examples: int, epochs: float, batch_size: int, min_steps: int) -> int:
    """``ceil(epochs x examples / batch_size)``, at least ``min_steps``."""
    import math

    return max(min_steps, math.ceil(epochs * examples / batch_size))


def test_records(demo) -> Path:
    return shots_dir(demo, demo.config.shots[0]) / "test.jsonl"


def responses_path(demo, name: str) -> Path:
    return demo.out / "responses" / f"{name}.resp.txt"


def systems(demo, results) -> dict[str, str]:
    """``{name: checkpoint}``: zero-shot first, then each K's full and LoRA runs."""
    return {ZERO_SHOT: results["pretrained"]["checkpoint"], **results["train"]["checkpoints"]}


def stage_generate(demo, results) -> dict:
    from dialogpt.demo.tool_calls import decode_file

    for name, checkpoint in systems(demo, results).items():
        decode_file(checkpoint, test_records(demo), responses_path(demo, name),
                    tokenizer=_tokenizer(results), decoding="greedy", max_length=TARGET_LEN,
                    batch_size=64)
    return {"responses": {name: str(responses_path(demo, name))
                          for name in systems(demo, results)}}


def stage_evaluate(demo, results) -> dict:
    """``batch_eval.py --task wow`` of every system, and its answer accuracy."""
    from dialogpt.demo.grounded import answer_accuracy
    from dialogpt.demo.tool_calls import score_file

    metrics = {}
    for name, responses in results["generate"]["responses"].items():
        metrics[name] = score_file(test_records(demo), responses, task="wow", no_dstc=True)
        metrics[name]["answer_accuracy"] = answer_accuracy(test_records(demo), Path(responses))
    return {"metrics": metrics}


def stage_report(demo, results) -> dict:
    from dialogpt.demo.finetune_report import write_finetune_report

    return write_finetune_report(demo, results, test_records(demo))


def clear_for_redo(demo, name: str) -> None:
    """A redone training stage starts its runs afresh (``--resume auto`` would continue them)."""
    if name == "train":
        shutil.rmtree(demo.out / "runs", ignore_errors=True)


def finetune_stages(run_demo):
    """The stages in order; ``run_demo`` (the pipeline's entry point for a ``DemoConfig``) builds
    the pretrained model with ``--task grounded``."""
    stages = [(name, globals()[f"stage_{name}"]) for name in STAGES]
    return [(name, functools.partial(stage, run_demo=run_demo) if name == "pretrained" else
             stage) for name, stage in stages]


def next_steps(demo, results) -> str:
    best = run_name(max(demo.config.shots), "full")
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
