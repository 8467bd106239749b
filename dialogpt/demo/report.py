"""The demo's report: ``REPORT.md``, ``report.json`` and ``loss_curve.png``."""

from __future__ import annotations

import csv
import json
from pathlib import Path

HEADLINE = (("nist2", "NIST2"), ("nist4", "NIST4"), ("bleu2", "BLEU2"), ("bleu4", "BLEU4"),
            ("meteor", "METEOR"), ("entropy4", "Ent-4"), ("dist1", "Dist-1"), ("dist2", "Dist-2"),
            ("avg_len", "Avg.Len"))


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


def plot_losses(train_rows, eval_rows, path: Path) -> bool:
    """Train loss per step and eval loss per evaluation; False when matplotlib is missing."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    from dialogpt.fileio import atomic_write

    figure, axis = plt.subplots(figsize=(7, 4), dpi=100)
    if train_rows:
        steps = [row["global_step"] for row in train_rows]
        if "loss" in train_rows[0]:
            axis.plot(steps, [row["loss"] for row in train_rows], label="train loss (step)",
                      linewidth=0.8, alpha=0.7)
        axis.plot(steps, [row["mean_loss"] for row in train_rows], "--", linewidth=1,
                  label="train mean_loss (epoch running mean, as train_log.txt)")
    if eval_rows:
        axis.plot([row["global_step"] for row in eval_rows],
                  [row["eval_loss"] for row in eval_rows], "o-", label="eval loss")
    axis.set_xlabel("optimizer step")
    axis.set_ylabel("cross-entropy per token")
    axis.set_title("DialoGPT demo")
    axis.grid(alpha=0.3)
    axis.legend()
    figure.tight_layout()
    with atomic_write(path, "wb") as handle:
        figure.savefig(handle, format="png")
    plt.close(figure)
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
                  "`pip install \"dialogpt-lsp[plot]\"` adds it.)"]
    lines += ["", "## Metrics on held-out contexts", "",
              "| " + " | ".join(label for _, label in HEADLINE) + " |",
              "|" + "---|" * len(HEADLINE),
              "| " + " | ".join(_fmt(metrics.get(key)) for key, _ in HEADLINE) + " |",
              "", "## Sample conversations", ""]
    for sample in report["samples"]:
        lines += [f"- context: {' / '.join(sample['context'])}",
                  f"  - model: {sample['response']}",
                  f"  - reference: {sample['reference']}"]
    with atomic_write(out / "REPORT.md") as handle:
        handle.write("\n".join(lines) + "\n")
    with atomic_write(out / "report.json") as handle:
        json.dump(report, handle, indent=1)
    return {"report": str(out / "REPORT.md"), "eval": report["eval"]}


def _fmt(value) -> str:
    if value is None:
        return "n/a"
    return f"{value:.4f}" if isinstance(value, float) else str(value)
