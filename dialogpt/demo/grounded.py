"""``python demo.py --task grounded``: the GODEL pipeline end to end, offline by default.

Stages (run by ``pipeline.run_stages``: each skipped on a re-run once finished, ``--force``
redoes them all):

1. ``data``       grounded dummy records (``grounded_data``): ``train/valid/test.jsonl``, where the
                  answer is only in the knowledge
2. ``tokenizer``  a T5 SentencePiece vocabulary trained on the training sources and responses
                  (``train_t5_tokenizer``); a Hub GODEL model (``--model godel-base``) brings its own
3. ``prepro``     ``prepro.py --corpus train.jsonl`` -> a seq2seq token DB (card template)
4. ``train``      ``LSP_train.py``: ``configs/t5-tiny`` (its vocabulary cut to the tokenizer's)
                  from scratch, or fine-tuning
                  ``--model godel-base|godel-large`` (the Hub checkpoints) or a local directory
5. ``generate``   ``generate.py`` on the test records twice: with their knowledge, and with the
                  knowledge removed (the ablation)
6. ``evaluate``   ``batch_eval.py --refs test.jsonl``: BLEU, ROUGE, unigram F1 and knowledge F1 of
                  both, plus how often the response states the value the knowledge gives
7. ``report``     ``REPORT.md`` (the knowledge ablation, the loss curve), ``report.json``

Flags this command does not know are passed to ``LSP_train.py`` unchanged and win over the
stage's own (e.g. ``--learning_rate``: 2e-3 for the tiny T5 from scratch, GODEL's 5e-5 for a Hub
checkpoint).

The defaults (one distractor sentence per record, 500 steps at 2e-3, batch 32) are the cheapest
measured setting where the tiny T5 clearly learns to take the answer from the knowledge on 2
cores in a few minutes: with 3 distractors, 300 steps leave it guessing a plausible value.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from dialogpt.cli import UserError

logger = logging.getLogger("dialogpt.demo")

GODEL_MODELS = {"godel-base": "microsoft/GODEL-v1_1-base-seq2seq",
                "godel-large": "microsoft/GODEL-v1_1-large-seq2seq"}
TINY_CONFIG = "configs/t5-tiny"
STAGES = ("data", "tokenizer", "prepro", "train", "generate", "evaluate", "report")
ABLATIONS = ("with_knowledge", "without_knowledge")
TOKENIZER_VOCAB = 1000


def model_source(model: str, repo_root: Path) -> str:
    """``tiny`` -> ``configs/t5-tiny``; ``godel-base|godel-large`` -> the Hub ids; a local dir."""
    if model == "tiny":
        return str(repo_root / TINY_CONFIG)
    if model in GODEL_MODELS:
        return GODEL_MODELS[model]
    if Path(model).exists():
        return model
    raise UserError(f"--model {model!r}: with --task grounded expected tiny, "
                    f"{', '.join(GODEL_MODELS)} or a local seq2seq model directory")


def grounded_options(demo) -> dict[str, dict]:
    """Per stage, the flags its output depends on (recorded in the stage markers: changing one
    redoes that stage and every later one, as in the dialog demo)."""
    from dialogpt.demo.models import REPO_ROOT

    config = demo.config
    data = {"data_dir": str(demo.data.resolve()), "num_train": config.num_train,
            "num_test": config.num_test, "distractors": config.distractors,
            "history_turns": config.history_turns}
    return {
        "data": data,
        "tokenizer": {**data, "model": config.model},
        "prepro": {"model": config.model, "max_source_len": config.max_source_len,
                   "max_target_len": config.max_target_len},
        "train": {"model": model_source(config.model, REPO_ROOT), "vocabulary": "fitted",
                  "num_optim_steps": config.num_optim_steps,
                  "train_batch_size": config.train_batch_size, "valid_step": config.valid_step,
                  "train_flags": list(demo.train_flags)},
        "generate": {"max_target_len": config.max_target_len},
        "evaluate": {},
        "report": {},
    }


def validate(demo) -> None:
    """Checks that need no work, before any stage starts or a redo deletes anything."""
    from dialogpt.demo.models import REPO_ROOT

    source = model_source(demo.config.model, REPO_ROOT)
    if demo.config.model in GODEL_MODELS:
        from dialogpt.hub import require_hub_id

        require_hub_id(source, "model")
    from dialogpt.demo.stage_options import check_train_flags

    check_train_flags(demo.train_flags)


def split_path(demo, split: str) -> Path:
    return demo.data / f"{split}.jsonl"


def stage_data(demo, results) -> dict:
    from dialogpt.demo.grounded_data import GroundedSpec, write_grounded_splits

    spec = GroundedSpec(n_train=demo.config.num_train, n_test=demo.config.num_test,
                        distractors=demo.config.distractors,
                        history=demo.config.history_turns)
    paths = write_grounded_splits(demo.data, spec)
    no_knowledge = demo.data / "test.no_knowledge.jsonl"
    _write_without_knowledge(paths["test"], no_knowledge)
    return {"splits": {split: str(path) for split, path in paths.items()},
            "test_without_knowledge": str(no_knowledge),
            "records": {"train": spec.n_train, "valid": spec.n_valid, "test": spec.n_test}}


def _write_without_knowledge(source: Path, target: Path) -> None:
    """The same records with ``Knowledge`` emptied: the ablation's input."""
    from dialogpt.fileio import atomic_write

    with open(source, encoding="utf-8") as handle, atomic_write(target) as out:
        for line in handle:
            record = json.loads(line)
            record["Knowledge"] = ""
            out.write(json.dumps(record, ensure_ascii=False) + "\n")


def stage_tokenizer(demo, results) -> dict:
    """A SentencePiece vocabulary of the training records, in the T5 layout (offline)."""
    if demo.config.model != "tiny":
        return {"tokenizer": None, "note": "the model's own tokenizer"}
    from dialogpt.grounding import build_source, split_context
    from dialogpt.tokenization import load_tokenizer, train_t5_tokenizer

    texts = []
    with open(split_path(demo, "train"), encoding="utf-8") as handle:
        for line in handle:
            record = json.loads(line)
            texts.append(build_source(split_context(record["Context"]), record["Knowledge"]))
            texts.append(record["Response"])
    # BPE: on this small, repetitive corpus the unigram trainer stops at ~100 word parts, which
    # spell every name and value in pieces; BPE's whole-word pieces halve the sources' length and
    # make each answer one token to copy.
    directory = train_t5_tokenizer(texts, demo.out / "tokenizer", vocab_size=TOKENIZER_VOCAB,
                                   model_type="bpe")
    return {"tokenizer": str(directory), "vocab_size": len(load_tokenizer(directory))}


def _tokenizer(results) -> str | None:
    return results["tokenizer"].get("tokenizer")


def stage_prepro(demo, results) -> dict:
    from dialogpt.demo.tool_calls import build_db

    config = demo.config
    db = demo.data / f"train.{config.max_source_len}src{config.max_target_len}tgt.db"
    build_db(corpus=str(split_path(demo, "train")),
             tokenizer=_tokenizer(results) or GODEL_MODELS.get(config.model, config.model),
             template="card", max_source_len=config.max_source_len,
             max_target_len=config.max_target_len, output=str(db), force=True)
    summary = db / "summary.json"
    return {"db": str(db),
            "summary": json.loads(summary.read_text()) if summary.exists() else None}


def tiny_model(vocab_size: int, out_dir: Path) -> Path:
    """``configs/t5-tiny`` with its embedding and output layer cut to the demo's vocabulary
    (rounded up to a multiple of 64), written to ``out_dir``: with T5's 32,128 rows the output
    layer and its optimizer state were most of the tiny model's work, and the rows no token uses
    slowed its learning too."""
    from dialogpt.demo.models import REPO_ROOT
    from dialogpt.fileio import atomic_write

    config = json.loads((REPO_ROOT / TINY_CONFIG / "config.json").read_text(encoding="utf-8"))
    config["vocab_size"] = -(-vocab_size // 64) * 64
    config["_about"] = f"{TINY_CONFIG} with the demo tokenizer's {vocab_size} tokens"
    with atomic_write(out_dir / "config.json") as out:
        json.dump(config, out, indent=2)
        out.write("\n")
    return out_dir


def train_settings(demo, db: str, model: str) -> dict:
    """The grounded demo's ``TrainConfig`` fields for its run of ``model`` on ``db``."""
    config, tiny = demo.config, demo.config.model == "tiny"
    return {"model_name_or_path": model, "train_input_file": db,
            "eval_input_file": str(split_path(demo, "valid")), "output_dir": str(demo.train_dir),
            "num_optim_steps": config.num_optim_steps, "valid_step": config.valid_step,
            "train_batch_size": config.train_batch_size, "gradient_accumulation_steps": 1,
            "eval_batch_size": 64, "max_seq_length": config.max_source_len,
            # linear warm-up (10% from scratch; GODEL's none, the schedule needs > 0) and decay
            "learning_rate": 2e-3 if tiny else 5e-5, "lr_schedule": "BERT",
            "warmup_proportion": 0.1 if tiny else 0.001, "weight_decay": 0.0,
            "eval_at_start": True, "pbar": False, "resume": "auto"}


def stage_train(demo, results) -> dict:
    from dialogpt.demo.models import REPO_ROOT
    from dialogpt.demo.training import latest_checkpoint, train, train_config

    model = (str(tiny_model(results["tokenizer"]["vocab_size"], demo.out / "t5-tiny"))
             if demo.config.model == "tiny" else model_source(demo.config.model, REPO_ROOT))
    settings = train_settings(demo, results["prepro"]["db"], model)
    train(train_config(settings, demo.train_flags))
    return {"checkpoint": str(latest_checkpoint(demo.train_dir)),
            "train_dir": str(demo.train_dir), "learning_rate": settings["learning_rate"]}


def responses_path(demo, ablation: str) -> Path:
    return demo.out / f"test.{ablation}.resp.txt"


def stage_generate(demo, results) -> dict:
    from dialogpt.demo.tool_calls import decode_file

    inputs = {"with_knowledge": split_path(demo, "test"),
              "without_knowledge": Path(results["data"]["test_without_knowledge"])}
    for ablation, source in inputs.items():
        decode_file(results["train"]["checkpoint"], source, responses_path(demo, ablation),
                    tokenizer=_tokenizer(results), decoding="greedy",
                    max_length=demo.config.max_target_len, batch_size=64)
    return {"responses": {ablation: str(responses_path(demo, ablation)) for ablation in inputs}}


def stage_evaluate(demo, results) -> dict:
    """``batch_eval.py`` against the test records (their knowledge is the knowledge-F1 target in
    both runs), and the share of responses that state the value the knowledge gives."""
    from dialogpt.demo.tool_calls import score_file

    references = split_path(demo, "test")
    metrics = {}
    for ablation in ABLATIONS:
        responses = responses_path(demo, ablation)
        metrics[ablation] = score_file(references, responses, no_dstc=True)
        metrics[ablation]["answer_accuracy"] = answer_accuracy(references, responses)
    return {"metrics": metrics}


def answer_accuracy(references: Path, responses: Path) -> float:
    """Share of responses whose words include the value the record's knowledge gives."""
    from dialogpt.demo.grounded_data import answer_value
    from dialogpt.evaluation.grounded_metrics import normalize_answer

    with open(references, encoding="utf-8") as refs, open(responses, encoding="utf-8") as hyps:
        pairs = [(json.loads(ref), hyp) for ref, hyp in zip(refs, hyps)]
    hits = sum(answer_value(record) in normalize_answer(hyp).split() for record, hyp in pairs)
    return hits / len(pairs) if pairs else 0.0


def stage_report(demo, results) -> dict:
    from dialogpt.demo.grounded_report import write_grounded_report

    return write_grounded_report(demo, results)


def grounded_stages():
    return [(name, globals()[f"stage_{name}"]) for name in STAGES]


def next_steps(demo, results) -> str:
    checkpoint = results.get("train", {}).get("checkpoint", str(demo.train_dir))
    tokenizer = _tokenizer(results) if "tokenizer" in results else None
    tok = f" --tokenizer {tokenizer}" if tokenizer else ""
    return "\n".join([
        f"Report: {demo.out / 'REPORT.md'}",
        "Next:",
        f"  chat, grounded:   python interact.py --model {checkpoint}{tok} --knowledge "
        "\"anna 's pet is fox .\"",
        f"  decode records:   python generate.py --model {checkpoint}{tok} --input "
        f"{split_path(demo, 'test')} --output out.resp.txt",
        f"  score them:       python batch_eval.py --refs {split_path(demo, 'test')} "
        "--hyp out.resp.txt --no_dstc",
        "  fine-tune GODEL:  python demo.py --task grounded --model godel-base (needs the Hub)",
    ])
