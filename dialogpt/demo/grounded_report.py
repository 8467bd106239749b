"""The grounded demo's report: ``REPORT.md`` (knowledge ablation, loss curve), ``report.json``.

Two things a reader would otherwise take for a broken run are said in the report: BLEU-4 is 0
by construction when every reference is shorter than four words after GODEL's normalisation
(``it is blue .`` is three: no 4-gram, so no 4-gram match, and nmt's unsmoothed BLEU is 0), and
the samples are picked by case from the whole test split, with each case's count: right with the
knowledge and wrong without it (what the knowledge gave), right both ways, and wrong with it.
"""

from __future__ import annotations

import json
from pathlib import Path

from dialogpt.demo.report import _fmt, plot_losses, read_jsonl, read_log

COLUMNS = (("bleu", "BLEU", 100.0), ("rouge1", "ROUGE-1", 1.0), ("rougeL", "ROUGE-L", 1.0),
           ("f1", "F1", 100.0), ("knowledge_f1", "Knowledge F1", 100.0),
           ("answer_accuracy", "Answer acc.", 100.0))
"""(metric key, column title, scale to percent): BLEU and F1 are fractions, ROUGE is x 100."""
LABELS = {"with_knowledge": "with the knowledge", "without_knowledge": "knowledge removed"}
CASES = {"gained": "right with the knowledge, wrong without it",
         "both": "right with and without the knowledge (a lucky guess without)",
         "missed": "wrong with the knowledge"}
"""The sample cases, by whether each run's response states the value the knowledge gives."""
PICKS = {"gained": 3, "both": 1, "missed": 2}
"""Samples shown per case (the first of the test split in each)."""


def _read_samples(test_jsonl: Path, responses: dict[str, str]) -> list[dict]:
    """Every test record with both runs' responses and its case (a key of ``CASES``)."""
    from dialogpt.demo.grounded_data import answer_value
    from dialogpt.evaluation.grounded_metrics import normalize_answer

    with open(test_jsonl, encoding="utf-8") as records:
        samples = [{"context": r["Context"], "knowledge": r["Knowledge"], "reference":
                    r["Response"], "value": answer_value(r)} for r in map(json.loads, records)]
    for name, path in responses.items():
        with open(path, encoding="utf-8") as handle:
            for sample, line in zip(samples, handle):
                sample[name] = line.rstrip("\n")
    for sample in samples:
        right = {name: sample["value"] in normalize_answer(sample.get(name, "")).split()
                 for name in LABELS}
        sample["case"] = ("missed" if not right["with_knowledge"] else
                          "both" if right["without_knowledge"] else "gained")
    return samples


def _pick(samples: list[dict]) -> list[dict]:
    return [sample for case, n in PICKS.items()
            for sample in [s for s in samples if s["case"] == case][:n]]


def bleu_note(references: list[str], metrics: dict) -> str | None:
    """Why BLEU-4 is 0 when no reference has four words after normalisation, else None."""
    from dialogpt.evaluation.grounded_metrics import normalize_answer

    longest = max((len(normalize_answer(ref).split()) for ref in references), default=0)
    if longest >= 4:
        return None
    precisions = "; ".join(
        f"{LABELS[name]} " + "/".join(f"{p * 100:.1f}" for p in row["bleu_precisions"][:longest])
        for name, row in metrics.items() if name in LABELS and row.get("bleu_precisions"))
    return (f"BLEU is BLEU-4 (GODEL's corpus BLEU, unsmoothed). After GODEL's normalisation "
            f"(lower case, punctuation and articles removed) every reference here has at most "
            f"{longest} words (\"it is blue .\" -> \"it is blue\"), so there is no 4-gram to "
            f"match: BLEU-4 is 0.00 whatever the answers, right or wrong. ROUGE, F1 and answer "
            f"accuracy are the measures that move here"
            + (f"; the 1- to {longest}-gram precisions are {precisions} (percent)."
               if precisions else "."))


def _metric(metrics: dict, key: str, scale: float) -> str:
    value = metrics.get(key)
    return "n/a" if value is None else f"{value * scale:.2f}"


def _cases_line(counts: dict[str, int], total: int) -> str:
    shown = ", ".join(f"{PICKS[case]} {title}" for case, title in CASES.items())
    found = "; ".join(f"{counts[case]} {title}" for case, title in CASES.items())
    return (f"A response is right when it states the value the knowledge gives. Of the {total} "
            f"test records: {found}. Shown below, the first of each case in the test split: "
            f"{shown} (fewer where a case has fewer).")


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
        "model": demo.config.model, "checkpoint": results.get("train", {}).get("checkpoint"),
        "tokenizer": results.get("tokenizer", {}),
        "train": {"steps": int(train_rows[-1]["global_step"]) if train_rows else 0,
                  "final_loss": train_rows[-1].get("mean_loss") if train_rows else None},
        "eval": {"first_loss": eval_rows[0]["eval_loss"] if eval_rows else None,
                 "final_loss": eval_rows[-1]["eval_loss"] if eval_rows else None},
        "metrics": metrics, "knowledge_f1_margin": margin,
    }
    samples = _read_samples(Path(results["data"]["splits"]["test"]), responses)
    report["sample_cases"] = {case: sum(s["case"] == case for s in samples) for case in CASES}
    report["samples"] = _pick(samples)
    note = bleu_note([s["reference"] for s in samples], metrics)
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
    if note:
        lines += ["", note]
    evaluation = report["eval"]
    lines += ["", "## Training", "",
              f"- steps: {report['train']['steps']}",
              f"- eval loss: {_fmt(evaluation['first_loss'])} at the start -> "
              f"{_fmt(evaluation['final_loss'])} at the end"]
    if has_plot:
        lines += ["", "![loss curve](loss_curve.png)"]
    lines += ["", "## Stages", "", "| stage | seconds |", "|---|---|"]
    lines += [f"| {name} | {seconds} |" for name, seconds in report["stage_seconds"].items()]
    lines += ["", "## Samples", "", _cases_line(report["sample_cases"], len(samples))]
    for case, title in CASES.items():
        picked = [sample for sample in report["samples"] if sample["case"] == case]
        if picked:
            lines += ["", f"### {title[0].upper()}{title[1:]}", ""]
        for sample in picked:
            lines += [f"- context: {sample['context']}",
                      f"  - knowledge: {sample['knowledge']}",
                      f"  - reference: {sample['reference']}"]
            lines += [f"  - model, {LABELS[name]}: {sample.get(name, '')}" for name in LABELS]
    with atomic_write(demo.out / "REPORT.md") as handle:
        handle.write("\n".join(lines) + "\n")
    with atomic_write(demo.out / "report.json") as handle:
        json.dump(report, handle, indent=1)
    return {"report": str(demo.out / "REPORT.md"), "eval": report["eval"],
            "knowledge_f1_margin": margin}
