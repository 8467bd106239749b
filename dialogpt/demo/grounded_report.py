"""The grounded demo's report: ``REPORT.md`` (knowledge ablation, loss curve), ``report.json``."""

from __future__ import annotations

import json
from pathlib import Path

from dialogpt.demo.report import _fmt, plot_losses, read_jsonl, read_log

COLUMNS = (("bleu", "BLEU", 100.0), ("rouge1", "ROUGE-1", 1.0), ("rougeL", "ROUGE-L", 1.0),
           ("f1", "F1", 100.0), ("knowledge_f1", "Knowledge F1", 100.0),
           ("answer_accuracy", "Answer acc.", 100.0))
"""(metric key, column title, scale to percent): BLEU and F1 are fractions, ROUGE is x 100."""
LABELS = {"with_knowledge": "with the knowledge", "without_knowledge": "knowledge removed"}


def _samples(test_jsonl: Path, responses: dict[str, str], limit: int = 5) -> list[dict]:
    handles = {name: open(path, encoding="utf-8") for name, path in responses.items()}
    try:
        samples = []
        with open(test_jsonl, encoding="utf-8") as records:
            for line in records:
                record = json.loads(line)
                sample = {"context": record["Context"], "knowledge": record["Knowledge"],
                          "reference": record["Response"]}
                sample.update({name: handle.readline().rstrip("\n")
                               for name, handle in handles.items()})
                samples.append(sample)
                if len(samples) == limit:
                    break
        return samples
    finally:
        for handle in handles.values():
            handle.close()


def _metric(metrics: dict, key: str, scale: float) -> str:
    value = metrics.get(key)
    return "n/a" if value is None else f"{value * scale:.2f}"


def write_grounded_report(demo, results: dict) -> dict:
    from dialogpt.fileio import atomic_write

    train_dir = demo.train_dir
    train_rows = read_jsonl(train_dir / "train_log.jsonl") or read_log(train_dir / "train_log.txt")
    eval_rows = read_log(train_dir / "eval_log.txt")
    metrics = results.get("evaluate", {}).get("metrics", {})
    responses = results.get("generate", {}).get("responses", {})
    with_kn, without = metrics.get("with_knowledge", {}), metrics.get("without_knowledge", {})
    margin = (with_kn["knowledge_f1"] - without["knowledge_f1"]
              if with_kn.get("knowledge_f1") is not None
              and without.get("knowledge_f1") is not None else None)
    report = {
        "stage_seconds": {name: info.get("seconds") for name, info in results.items()},
        "model": demo.args.model, "checkpoint": results.get("train", {}).get("checkpoint"),
        "tokenizer": results.get("tokenizer", {}),
        "train": {"steps": int(train_rows[-1]["global_step"]) if train_rows else 0,
                  "final_loss": train_rows[-1].get("mean_loss") if train_rows else None},
        "eval": {"first_loss": eval_rows[0]["eval_loss"] if eval_rows else None,
                 "final_loss": eval_rows[-1]["eval_loss"] if eval_rows else None},
        "metrics": metrics, "knowledge_f1_margin": margin,
        "samples": _samples(Path(results["data"]["splits"]["test"]), responses),
    }
    has_plot = plot_losses(train_rows, eval_rows, demo.out / "loss_curve.png")
    lines = ["# GODEL grounded demo report", "",
             f"Model: `{report['model']}`, checkpoint `{report['checkpoint']}`", "",
             "## Knowledge ablation (greedy decoding of the test records)", "",
             "Each test record's answer is stated only in its knowledge. The same checkpoint "
             "decodes the records twice: with their knowledge, and with the knowledge removed. "
             "Scores are against the references; knowledge F1 against the record's knowledge in "
             "both runs; answer accuracy is the share of responses that state the value the "
             "knowledge gives. All in percent.", "",
             "| decoded | " + " | ".join(title for _, title, _ in COLUMNS) + " |",
             "|---|" + "---|" * len(COLUMNS)]
    for name, label in LABELS.items():
        row = metrics.get(name, {})
        lines.append(f"| {label} | "
                     + " | ".join(_metric(row, key, scale) for key, _, scale in COLUMNS) + " |")
    if margin is not None:
        lines += ["", f"Knowledge F1 with minus without the knowledge: {margin * 100:+.2f} points."]
    evaluation = report["eval"]
    lines += ["", "## Training", "",
              f"- steps: {report['train']['steps']}",
              f"- eval loss: {_fmt(evaluation['first_loss'])} at the start -> "
              f"{_fmt(evaluation['final_loss'])} at the end"]
    if has_plot:
        lines += ["", "![loss curve](loss_curve.png)"]
    lines += ["", "## Stages", "", "| stage | seconds |", "|---|---|"]
    lines += [f"| {name} | {seconds} |" for name, seconds in report["stage_seconds"].items()]
    lines += ["", "## Samples", ""]
    for sample in report["samples"]:
        lines += [f"- context: {sample['context']}", f"  - knowledge: {sample['knowledge']}",
                  f"  - reference: {sample['reference']}"]
        lines += [f"  - model, {LABELS[name]}: {sample.get(name, '')}" for name in LABELS]
    with atomic_write(demo.out / "REPORT.md") as handle:
        handle.write("\n".join(lines) + "\n")
    with atomic_write(demo.out / "report.json") as handle:
        json.dump(report, handle, indent=1)
    return {"report": str(demo.out / "REPORT.md"), "eval": report["eval"],
            "knowledge_f1_margin": margin}
