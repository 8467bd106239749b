"""``python demo.py``: the whole pipeline in one command, offline by default.

Stages, each skipped on a re-run once finished (``--force`` redoes them all):

1. ``dumps``     dummy Reddit dumps (``--data dummy``), or your local dumps (``--dumps DIR``)
2. ``extract``   ``reddit_extractor/`` Makefile -> ``train.tsv``, ``valid.tsv``
3. ``prepro``    ``prepro.py`` -> memory-mapped token DB
4. ``train``     ``LSP_train.py`` (tiny config from scratch, or ``--model small|medium|large``)
5. ``generate``  ``generate.py`` on held-out contexts
6. ``evaluate``  ``batch_eval.py`` (DSTC-7 metrics) on those responses
7. ``report``    ``REPORT.md``, ``report.json``, ``loss_curve.png`` in the output directory

Flags this command does not know are passed to ``LSP_train.py`` unchanged (for example
``--learning_rate 1e-4 --lr_schedule BERT``).

``--task grounded`` runs the GODEL pipeline instead (grounded records, a T5 SentencePiece
vocabulary, seq2seq prepro, a tiny T5 or ``--model godel-base|godel-large``, decoding with and
without the knowledge, GODEL's metrics): see ``dialogpt/demo/grounded.py``. Both tasks share
this stage runner.
"""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from dialogpt.cli import UserError, run_main, setup_logging
from dialogpt.config import build_parser as build_config_parser
from dialogpt.demo.demo_config import DemoConfig
from dialogpt.demo.dummy_data import DUMMY_MONTHS
from dialogpt.demo.models import REPO_ROOT
from dialogpt.demo.training import train_model

logger = logging.getLogger("dialogpt.demo")

STAGES = ("dumps", "extract", "prepro", "train", "generate", "evaluate", "report")
OUTPUT_DIRS = {"dialog": "models/demo", "grounded": "models/demo-grounded",
               "finetune": "models/demo-finetune"}
DATA_DIRS = {"grounded": "data/grounded", "finetune": "data/finetune"}
"""Default ``--output_dir`` and ``--data_dir`` per task (the dialog demo's data: by ``--data``)."""


def build_parser():
    """``demo.py``'s parser: one flag per :class:`DemoConfig` field, in field order."""
    return build_config_parser(DemoConfig, "demo.py", __doc__)


def parse_demo_args(argv=None) -> DemoConfig:
    """``demo.py``'s command line as a validated ``DemoConfig``; the flags it does not know become
    its ``train_flags`` (checked against ``LSP_train.py``'s by each task before its stages)."""
    known, unknown = build_parser().parse_known_args(argv)
    config = DemoConfig(**vars(known), train_flags=unknown)
    config.validate()
    return config


@dataclass
class Demo:
    """Paths and settings of one demo run; every stage reads and writes only these."""

    config: DemoConfig
    out: Path = field(init=False)
    data: Path = field(init=False)

    def __post_init__(self):
        config = self.config
        self.out = Path(config.output_dir or OUTPUT_DIRS[config.task])
        dialog_data = "data/dummy" if config.data == "dummy" else "data"
        self.data = Path(config.data_dir or DATA_DIRS.get(config.task, dialog_data))

    @property
    def train_flags(self) -> list[str]:
        """The flags for every training run (``DemoConfig.train_flags``)."""
        return self.config.train_flags

    @property
    def stage_dir(self) -> Path:
        return self.out / "stages"

    @property
    def train_tsv(self) -> Path:
        return self.data / "train.tsv"

    @property
    def valid_tsv(self) -> Path:
        return self.data / "valid.tsv"

    @property
    def train_dir(self) -> Path:
        return self.out / "train"

    @property
    def heldout_tsv(self) -> Path:
        return self.out / "heldout.tsv"

    @property
    def heldout_refs(self) -> Path:
        return self.out / "heldout.refs.txt"

    @property
    def responses(self) -> Path:
        return self.out / "heldout.resp.txt"

    @property
    def dumps(self) -> Path:
        if self.config.data == "dummy":
            return self.data / "dumps"
        if not self.config.dumps:
            raise UserError(f"--data {self.config.data} needs local dumps: pass --dumps DIR with "
                            "RS_YYYY-MM.zst / RC_YYYY-MM.zst files (pushshift no longer serves "
                            "them; academic torrents host copies)")
        return Path(self.config.dumps)


def run_stages(demo: Demo, stages, options=None) -> dict[str, dict]:
    """Run the stages not done before with the same options (``dialogpt.demo.stages``): a
    changed option redoes its stage and every later one; ``--force`` redoes all."""
    from dialogpt.demo.stage_options import clear_for_redo
    from dialogpt.demo.stages import run_stages as run_cached

    return run_cached(demo.stage_dir, stages, demo, options or {}, demo.config.force,
                      before_redo=lambda name: clear_for_redo(demo, name))


def stage_dumps(demo: Demo, results) -> dict:
    if demo.config.data != "dummy":
        months = sorted(path.name for path in demo.dumps.glob("R[SC]_*"))
        if not months:
            raise UserError(f"no RS_*/RC_* dumps in {demo.dumps}")
        return {"dumps": str(demo.dumps), "files": len(months)}
    from dialogpt.demo.dummy_data import DummySpec, write_dummy_dumps

    paths = write_dummy_dumps(demo.dumps, DummySpec(months=DUMMY_MONTHS))
    return {"dumps": str(demo.dumps), "files": len(paths),
            "bytes": sum(path.stat().st_size for path in paths)}


def extract_command(demo: Demo, make: str = "make") -> list[str]:
    """The ``make`` call of the extract stage (the user's ``SIZE=small make -j 8``)."""
    variables = [f"S={demo.dumps.resolve()}", f"DATA={demo.data.resolve()}",
                 f"T={(demo.data / 'work').resolve()}", f"PYTHON={sys.executable}",
                 f"VALID_FRACTION={demo.config.valid_fraction}"]
    if demo.config.data == "dummy":
        variables += [f"TRAIN_MONTHS={' '.join(DUMMY_MONTHS)}", "HASH_FLAG=--ignore_keys",
                      "WORDS_BLOCKLIST=", "SUBREDDITS_BLOCKLIST="]
    else:
        variables += [f"SIZE={demo.config.data}"]
    return [make, "-C", str(REPO_ROOT / "reddit_extractor"), f"-j{demo.config.jobs}", *variables,
            "train", "valid"]


def stage_extract(demo: Demo, results) -> dict:
    make = shutil.which("make")
    if make is None:
        raise UserError("the extractor is a Makefile pipeline: install GNU make")
    command = extract_command(demo, make)
    logger.info("%s", " ".join(command))
    subprocess.run(command, check=True)
    counts = {path.name: sum(1 for _ in open(path, encoding="utf-8"))
              for path in (demo.train_tsv, demo.valid_tsv)}
    if not counts["train.tsv"]:
        raise UserError(f"the extractor wrote no training conversations to {demo.train_tsv}")
    return {"lines": counts}


def stage_prepro(demo: Demo, results) -> dict:
    from dialogpt.demo.tool_calls import build_db

    db = build_db(corpus=str(demo.train_tsv), max_seq_len=demo.config.max_seq_len, force=True)
    summary = json.loads((db / "summary.json").read_text())
    return {"db": str(db), "summary": summary}


def stage_train(demo: Demo, results) -> dict:
    return train_model(demo, results["prepro"]["db"], demo.train_dir)


def _write_heldout(demo: Demo) -> int:
    """The first ``--num_heldout`` validation lines: contexts to decode and references to score.

    References are plain ``KEY<TAB>response`` lines (the response's weight prefix stripped), in
    the order of the contexts, so ``batch_eval.py`` aligns the decoded file by line.
    """
    from dialogpt.data.features import parse_turns
    from dialogpt.fileio import atomic_write

    lines = []
    with open(demo.valid_tsv, encoding="utf-8") as handle:
        for line in handle:
            context, _, response = line.rstrip("\n").partition("\t")
            turns = parse_turns(response)
            if context and turns:
                lines.append((context, turns[-1][1]))
            if len(lines) >= demo.config.num_heldout:
                break
    if not lines:
        raise UserError(f"{demo.valid_tsv} holds no usable validation lines; raise "
                        "--valid_fraction or bring more data")
    with atomic_write(demo.heldout_tsv) as tsv, atomic_write(demo.heldout_refs) as refs:
        for index, (context, response) in enumerate(lines):
            tsv.write(f"{context}\t{response}\n")
            refs.write(f"heldout-{index:05d}\t{response}\n")
    return len(lines)


def stage_generate(demo: Demo, results) -> dict:
    from dialogpt.demo.tool_calls import decode_file

    n = _write_heldout(demo)
    decode_file(results["train"]["checkpoint"], demo.heldout_tsv, demo.responses,
                decoding="greedy", max_length=30, batch_size=32)
    return {"contexts": n, "responses": str(demo.responses)}


def stage_evaluate(demo: Demo, results) -> dict:
    from dialogpt.demo.tool_calls import HELDOUT_SCORING, score_file

    return {"metrics": score_file(demo.heldout_refs, demo.responses, **HELDOUT_SCORING)}


def stage_report(demo: Demo, results) -> dict:
    from dialogpt.demo.report import write_report

    return write_report(demo.out, demo.train_dir, results, demo.heldout_tsv, demo.responses)


def _mmi_step(demo: Demo, results, checkpoint: str, refs: Path) -> str:
    """``demo.py --mmi`` to try, or, after it, the reranked decoding with its backward model."""
    reverse = results.get("train_reverse", {}).get("checkpoint")
    if not (demo.config.mmi and reverse):
        return "  MMI reranking too:     python demo.py --mmi"
    return (f"  decode with MMI:       python generate.py --model {checkpoint} --mmi_model "
            f"{reverse} --decoding sample --top_k 20 --num_candidates 8 --max_length 30 "
            f"--seed 42 --input {refs} --output mmi.resp.txt")


def next_steps(demo: Demo, results) -> str:
    checkpoint = results.get("train", {}).get("checkpoint", str(demo.train_dir))
    refs = demo.valid_tsv.with_name("valid.refs.txt")
    return "\n".join([
        f"Report: {demo.out / 'REPORT.md'}",
        "Next (README, \"After the demo\", lists these and the MMI recipe as they run):",
        f"  chat with the model:   python interact.py --model {checkpoint}",
        f"  references to score:   python make_refs.py --tsv {demo.valid_tsv} --out {refs} "
        "--max_contexts 100",
        f"  decode them:           python generate.py --model {checkpoint} --input {refs} "
        "--output out.resp.txt --max_length 30",
        f"  score the responses:   python batch_eval.py --refs {refs} --hyp out.resp.txt "
        "--format plain",
        f"  loss curves:           python plot.py {demo.train_dir}",
        _mmi_step(demo, results, checkpoint, refs),
        "  train a real model:    python demo.py --data small --dumps DIR --model small",
        "  or directly:           torchrun --nproc_per_node=N LSP_train.py --model_name_or_path "
        "configs/117M --train_input_file DB --eval_input_file TSV --output_dir DIR",
    ])


def main(argv=None) -> int:
    return run_demo(parse_demo_args(argv))


def run_demo(config: DemoConfig) -> int:
    """One demo run of a validated ``config`` (what ``demo.py`` does after parsing its flags)."""
    demo = Demo(config)
    setup_logging()
    from dialogpt.cli import check_paths
    from dialogpt.locking import hold_run_lock

    check_paths(output_dirs={"--output_dir": demo.out, "--data_dir": demo.data})
    with hold_run_lock(demo.out, flag="--output_dir"):  # one demo per directory
        return _run(demo)


def _run(demo: Demo) -> int:
    # --force deletes nothing itself: a stage being redone clears its own outputs first
    # (stage_options.clear_for_redo), after every check below has passed.
    if demo.config.task == "grounded":
        from dialogpt.demo import grounded as task

        task.validate(demo)  # model, training flags: before any stage starts or deletes
        stages, options = task.grounded_stages(), task.grounded_options(demo)
    elif demo.config.task == "finetune":
        from dialogpt.demo import finetune as task

        task.validate(demo)
        return _run_finetune(demo, task)
    else:
        from dialogpt.demo.stage_options import stage_options, validate

        validate(demo)  # dumps, model, training flags: before any stage starts or deletes
        task = sys.modules[__name__]
        stages = [(name, globals()[f"stage_{name}"]) for name in STAGES]
        options = stage_options(demo)
        if demo.config.mmi:  # the MMI recipe's stages, before the report
            from dialogpt.demo.mmi import mmi_options, mmi_stages

            stages[-1:-1] = mmi_stages()
            options.update(mmi_options(demo))
    try:
        results = run_stages(demo, stages, options)
    except KeyboardInterrupt:
        return 130
    except subprocess.CalledProcessError as exc:
        raise UserError(f"{' '.join(map(str, exc.cmd[:3]))} ... failed with exit {exc.returncode}")
    print(task.next_steps(demo, results))
    return 0


def _run_finetune(demo: Demo, task) -> int:
    """``--task finetune``: its stages, with its own clean-up before a redo."""
    from dialogpt.demo.stages import run_stages as run_cached

    task.set_threads(demo)
    try:
        results = run_cached(demo.stage_dir, task.finetune_stages(run_demo), demo,
                             task.finetune_options(demo), demo.config.force,
                             before_redo=lambda name: task.clear_for_redo(demo, name))
    except KeyboardInterrupt:
        return 130
    print(task.next_steps(demo, results))
    return 0


if __name__ == "__main__":
    raise SystemExit(run_main(main))
