"""The demo's report: ``REPORT.md``, ``report.json`` and ``loss_curve.png``."""

from __future__ import annotations

import csv
import json
from pathlib import Path



def read_log(path: Path) -> list[dict[str, float]]:
    """Rows of a comma-separated training log (``train_log.txt`` / ``eval_log.txt``)."""
    if not path.exists():
        return []
    with open(path, encoding="utf-8", newline="") as handle:
        return [{key: float(value) for key, value in row.items() if value not in (None, "")}
                for row in csv.DictReader(handle)]


def read_jsonl(path: Path) -> list[dict]:
    if not path.exists():
        return []
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def plot_losses(train_rows, eval_rows, path: Path, title: str = "DialoGPT demo") -> bool:
    """Loss and perplexity curves (``dialogpt.plot``, as ``python plot.py RUN_DIR`` draws them)
    into ``path`` (PNG) and the same name with ``.svg``; False when matplotlib is missing."""
    from dialogpt.cli import UserError
    from dialogpt.plot import RunLogs, numeric_rows, write_figure

    run = RunLogs("demo", numeric_rows(train_rows), numeric_rows(eval_rows))
    try:
        write_figure([run], Path(path).with_suffix(""), title, ("png", "svg"))
    except UserError:
        return False
    return True


def _samples(heldout_tsv: Path, responses: Path, limit: int = 5) -> list[dict[str, str]]:
    from dialogpt.data.features import parse_turns

    samples = []
    with open(heldout_tsv, encoding="utf-8") as contexts, open(responses, encoding="utf-8") as hyps:
        for line, hyp in zip(contexts, hyps):
            context, _, reference = line.rstrip("\n").partition("\t")
            samples.append({"context": [text for _, text in parse_turns(context)],
                            "reference": reference, "response": hyp.rstrip("\n")})
            if len(samples) == limit:
                break
    return samples


def write_report(out: Path, train_dir: Path, results: dict, heldout_tsv: Path,
                 responses: Path) -> dict:
    from dialogpt.fileio import atomic_write

    train_rows = read_jsonl(train_dir / "train_log.jsonl") or read_log(train_dir / "train_log.txt")
    eval_rows = read_log(train_dir / "eval_log.txt")
    metrics = results.get("evaluate", {}).get("metrics", {})
    report = {
        "stage_seconds": {name: info.get("seconds") for name, info in results.items()},
        "data": {"tsv_lines": results.get("extract", {}).get("lines"),
                 "prepro": results.get("prepro", {}).get("summary")},
        "train": {"steps": int(train_rows[-1]["global_step"]) if train_rows else 0,
                  "final_loss": train_rows[-1]["mean_loss"] if train_rows else None,
                  "final_ppl": train_rows[-1]["mean_ppl"] if train_rows else None},
        "eval": {"first_loss": eval_rows[0]["eval_loss"] if eval_rows else None,
                 "final_loss": eval_rows[-1]["eval_loss"] if eval_rows else None,
                 "final_ppl": eval_rows[-1]["eval_ppl"] if eval_rows else None},
        "checkpoint": results.get("train", {}).get("checkpoint"),
        "metrics": metrics,
        "samples": _samples(heldout_tsv, responses),
    }
    has_plot = plot_losses(train_rows, eval_rows, out / "loss_curve.png")

    lines = ["# DialoGPT demo report", "",
             f"Checkpoint: `{report['checkpoint']}`", "", "## Stages", "",
             "| stage | seconds |", "|---|---|"]
    lines += [f"| {name} | {seconds} |" for name, seconds in report["stage_seconds"].items()]
    train, evaluation = report["train"], report["eval"]
    lines += ["", "## Training", "",
              f"- steps: {train['steps']}",
              f"- final train loss: {_fmt(train['final_loss'])}, ppl: {_fmt(train['final_ppl'])}",
              f"- eval loss: {_fmt(evaluation['first_loss'])} at the start -> "
              f"{_fmt(evaluation['final_loss'])} at the end (ppl {_fmt(evaluation['final_ppl'])})"]
    if has_plot:
        lines += ["", "![loss curve](loss_curve.png)"]
    else:
        lines += ["", "(No loss curve: matplotlib is not installed; "
                  "`pip install -e \".[plot]\"` adds it.)"]
    lines += ["", "## Metrics on held-out contexts", "", *metrics_table(metrics)]
    mmi = results.get("evaluate_mmi", {}).get("metrics")
    if mmi:  # demo.py --mmi
        report["metrics_mmi"] = mmi
        lines += ["", "With MMI reranking (8 sampled candidates, the backward model's choice):",
                  "", *metrics_table(mmi)]
    lines += ["", "## Sample conversations", ""]
    for sample in report["samples"]:
        lines += [f"- context: {' / '.join(sample['context'])}",
                  f"  - model: {sample['response']}",
                  f"  - reference: {sample['reference']}"]
    with atomic_write(out / "REPORT.md") as handle:
        handle.write("\n".join(lines) + "\n")
    with atomic_write(out / "report.json") as handle:
        json.dump(report, handle, indent=1)
    return {"report": str(out / "REPORT.md"), "eval": report["eval"]}


def metrics_table(metrics: dict) -> list[str]:
    """The headline metrics as ``batch_eval.py`` prints them (BLEU, METEOR and Distinct as
    percentages, like the DialoGPT README), and why METEOR is missing when it is."""
    from dialogpt.evaluation.report import HEADLINE

    def cell(value, percent: bool) -> str:
        if value is None:
            return "n/a"
        return f"{100 * value:.2f}%" if percent else f"{value:.4f}"

    lines = ["| " + " | ".join(title for title, _, _ in HEADLINE) + " |",
             "|" + "---|" * len(HEADLINE),
             "| " + " | ".join(cell(metrics.get(key), percent) for _, key, percent in HEADLINE)
             + " |"]
    if metrics and metrics.get("meteor") is None:
        lines += ["", f"METEOR n/a: {meteor_missing_reason()}"]
    return lines


def meteor_missing_reason() -> str:
    from dialogpt.evaluation.meteor import MeteorUnavailable, locate_meteor

    try:
        locate_meteor()
    except MeteorUnavailable as exc:
        return str(exc)
    return "the METEOR jar ran but reported no score (see the evaluate stage's warnings)"


def _fmt(value) -> str:
    if value is None:
        return "n/a"
    return f"{value:.4f}" if isinstance(value, float) else str(value)
