"""The few-shot demo's report: the table (zero-shot, then K dialogs full and LoRA), the curve
(answer accuracy and knowledge F1 against K), ``REPORT.md`` and ``report.json``."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Mapping

COLUMNS = (("answer_accuracy", "Answer acc."), ("knowledge_f1", "Knowledge F1"), ("f1", "F1"),
           ("bleu", "BLEU"))
"""(metric key, column title); all are fractions, shown x 100."""
_RUN = re.compile(r"k(\d+)-(\w+)$")


def parse_run(name: str) -> tuple[int, str] | None:
    """``"k50-lora"`` -> ``(50, "lora")``; None for the zero-shot row."""
    match = _RUN.match(name)
    return (int(match.group(1)), match.group(2)) if match else None


def table_rows(metrics: Mapping[str, Mapping]) -> list[list[str]]:
    """One row per system: name, dialogs, method, then :data:`COLUMNS` x 100 (2 decimals)."""
    rows = []
    for name, scores in metrics.items():
        run = parse_run(name)
        shots, method = (str(run[0]), run[1]) if run else ("0", "none")
        cells = [("n/a" if scores.get(key) is None else f"{100 * scores[key]:.2f}")
                 for key, _ in COLUMNS]
        rows.append([name, shots, method, *cells])
    return rows


def markdown_table(metrics: Mapping[str, Mapping]) -> str:
    header = ["System", "Dialogs", "Tuned", *(title for _, title in COLUMNS)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in table_rows(metrics)]
    return "\n".join(lines)


def curves(metrics: Mapping[str, Mapping], key: str) -> dict[str, tuple[list[int], list[float]]]:
    """``{method: (dialog counts, values)}`` of ``key``, sorted by K, each starting at the
    zero-shot value (K = 0)."""
    zero = next((scores[key] for name, scores in metrics.items() if parse_run(name) is None),
                None)
    points: dict[str, list[tuple[int, float]]] = {}
    for name, scores in metrics.items():
        run = parse_run(name)
        if run and scores.get(key) is not None:
            points.setdefault(run[1], []).append((run[0], scores[key]))
    result = {}
    for method, pairs in points.items():
        pairs = ([(0, zero)] if zero is not None else []) + sorted(pairs)
        result[method] = ([k for k, _ in pairs], [v for _, v in pairs])
    return result


def plot_curve(metrics: Mapping[str, Mapping], path: Path) -> bool:
    """Answer accuracy and knowledge F1 against K (symlog x axis: K = 0 is zero-shot) into
    ``path``; False when matplotlib is missing."""
    from dialogpt.cli import UserError
    from dialogpt.plot import _pyplot

    try:
        plt = _pyplot()
    except UserError:
        return False
    figure, axes = plt.subplots(1, 2, figsize=(10, 4), dpi=100)
    for axis, (key, title) in zip(axes, COLUMNS[:2]):
        for method, (ks, values) in curves(metrics, key).items():
            axis.plot(ks, [100 * v for v in values], marker="o", label=method)
        axis.set_xscale("symlog", linthresh=10)
        axis.set_xlabel("training dialogs (0 = zero-shot)")
        axis.set_ylabel(f"{title} (%)")
        axis.set_title(title)
        axis.grid(alpha=0.3)
        axis.legend()
    figure.tight_layout()
    from dialogpt.fileio import atomic_write

    with atomic_write(path, "wb") as handle:
        figure.savefig(handle, format="png")
    plt.close(figure)
    return True


def _steps(results: dict) -> str:
    steps = results["train"].get("steps", {})
    return ", ".join(f"{name} {n}" for name, n in steps.items() if name.endswith("full"))


def write_finetune_report(demo, results: dict, test_records: Path) -> dict:
    """``REPORT.md`` and ``report.json`` of the finetune demo, scored on ``test_records``."""
    from dialogpt.fileio import atomic_write

    metrics = results["evaluate"]["metrics"]
    png = demo.out / "fewshot_curve.png"
    plotted = plot_curve(metrics, png)
    seconds = {stage: results[stage].get("seconds") for stage in results}
    args = demo.config
    lines = [
        "# Few-shot fine-tuning demo (GODEL, synthetic Wizard of Wikipedia)", "",
        f"Pretrained model: `{results['pretrained']['checkpoint']}` (the grounded demo's tiny "
        "T5, built with `--distractors 0 --history_turns 2`). Each run fine-tunes it on K dialogs sampled by `convert_task.py wow --train shots "
        f"--shots K --seed {args.finetune_seed}`: {args.finetune_epochs:g} passes over its "
        f"examples (at least {args.finetune_min_steps} steps; steps per run: "
        f"{_steps(results)}) in batches of {args.finetune_batch_size}, every weight at "
        f"{args.finetune_lr} (full) or LoRA "
        f"r={args.finetune_lora_r} on every linear layer at {args.lora_lr}. Scored on "
        f"`{test_records}` ({metrics[next(iter(metrics))]['n_examples']} records); "
        "greedy decoding; all figures x 100.", "",
        markdown_table(metrics), "",
        "Answer acc.: the response states the value of the checked sentence. Knowledge F1: "
        "unigram F1 of the response against the checked sentence (the reference restates it, "
        "so a perfect response scores 100).", "",
        f"![few-shot curve]({png.name})" if plotted else "(matplotlib missing: no curve)", "",
        "Seconds per stage: " + ", ".join(f"{k} {v}" for k, v in seconds.items()), ""]
    report = {"metrics": metrics, "seconds": seconds, "curve": str(png) if plotted else None}
    with atomic_write(demo.out / "REPORT.md") as handle:
        handle.write("\n".join(lines))
    with atomic_write(demo.out / "report.json") as handle:
        json.dump(report, handle, indent=1)
    return {"report": str(demo.out / "REPORT.md"), "curve": report["curve"]}
