"""``python -m dialogpt.plot RUN_DIR [RUN_DIR...]``: loss and perplexity curves of training runs.

Reads each run's ``train_log.jsonl`` / ``eval_log.jsonl`` (or the original-format
``train_log.txt`` / ``eval_log.txt``), as ``LSP_train.py --output_dir`` writes them; a demo folder
(``models/demo``) works too, its run being in ``train/``. Draws two panels, loss and perplexity
(log scale), against the optimizer step: per run the step loss (thin), the epoch running mean
``mean_loss`` (the original's column) and the evaluation loss (dots); several runs are overlaid,
one colour each. Writes ``OUT.png`` and ``OUT.svg`` (``--out``, default ``RUN_DIR/curves``: the
first run's folder when there are several, never the current directory). The demo report draws
its curve with the same code.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path

from dialogpt.cli import UserError, run_main, setup_logging
from dialogpt.config import build_parser as build_config_parser
from dialogpt.config import flag, parse_config

LOG_FILES = ("train_log.jsonl", "train_log.txt", "eval_log.jsonl", "eval_log.txt")


@dataclass
class RunLogs:
    """One run's rows: dicts of floats keyed by column (``global_step``, ``loss``...)."""

    name: str
    train: list[dict[str, float]] = field(default_factory=list)
    eval: list[dict[str, float]] = field(default_factory=list)


def _number(value) -> float | None:
    try:
        return float(value)  # "nan"/"inf" strings (JSON has no NaN) become floats too
    except (TypeError, ValueError):
        return None


def numeric_rows(raw) -> list[dict[str, float]]:
    """Log rows with their numeric fields as floats; rows without ``global_step`` dropped."""
    rows = [{key: number for key, value in row.items() if (number := _number(value)) is not None}
            for row in raw]
    return [row for row in rows if "global_step" in row]


def _rows(path: Path) -> list[dict[str, float]]:
    if not path.is_file():
        return []
    if path.suffix == ".jsonl":  # a torn last line (a run still writing, a power cut) dropped
        from dialogpt.training.logs import read_jsonl_rows

        return numeric_rows(read_jsonl_rows(path))
    with open(path, encoding="utf-8", newline="") as handle:
        return numeric_rows(list(csv.DictReader(handle)))


def run_folder(path: Path) -> Path:
    """The folder holding the logs: ``path`` itself, or its ``train/`` (a demo folder)."""
    if any((path / name).is_file() for name in LOG_FILES):
        return path
    if any((path / "train" / name).is_file() for name in LOG_FILES):
        return path / "train"
    raise UserError(f"{path} holds no training logs ({', '.join(LOG_FILES)}); pass the "
                    "--output_dir of an LSP_train.py run")


def read_run(path: str | Path, name: str | None = None) -> RunLogs:
    folder = run_folder(Path(path))
    train = _rows(folder / "train_log.jsonl") or _rows(folder / "train_log.txt")
    evals = _rows(folder / "eval_log.jsonl") or _rows(folder / "eval_log.txt")
    return RunLogs(name or str(path), train, evals)


def curves(run: RunLogs) -> dict[str, tuple[list[float], list[float]]]:
    """The series drawn for ``run``: ``{label: (steps, values)}``; perplexities that the logs do
    not hold are ``exp(loss)``. Non-finite values are left out."""
    def series(rows, key, transform=None):
        points = [(row["global_step"], transform(row[key]) if transform else row[key])
                  for row in rows if key in row]
        points = [(step, value) for step, value in points if math.isfinite(value)]
        return [step for step, _ in points], [value for _, value in points]

    def ppl(loss):
        return math.exp(min(loss, 700.0))

    out = {"train loss": series(run.train, "loss"),
           "train mean_loss": series(run.train, "mean_loss"),
           "eval loss": series(run.eval, "eval_loss"),
           "train ppl": series(run.train, "ppl") if any("ppl" in r for r in run.train)
           else series(run.train, "loss", ppl),
           "train mean_ppl": series(run.train, "mean_ppl"),
           "eval ppl": series(run.eval, "eval_ppl") if any("eval_ppl" in r for r in run.eval)
           else series(run.eval, "eval_loss", ppl)}
    return {label: points for label, points in out.items() if points[0]}


_STYLES = {"train loss": dict(linewidth=0.6, alpha=0.35),
           "train ppl": dict(linewidth=0.6, alpha=0.35),
           "train mean_loss": dict(linewidth=1.4), "train mean_ppl": dict(linewidth=1.4),
           "eval loss": dict(marker="o", linestyle="--", linewidth=1.0, markersize=4),
           "eval ppl": dict(marker="o", linestyle="--", linewidth=1.0, markersize=4)}


_NOTES = {"train mean_loss": " (running mean over the epoch)",
          "train mean_ppl": " (running mean over the epoch)"}


def _pyplot():
    from dialogpt.extras import require

    matplotlib = require("matplotlib", "plotting")
    matplotlib.use("Agg")
    matplotlib.rcParams["svg.fonttype"] = "none"  # text stays text in the SVG
    import matplotlib.pyplot as plt
    return plt


def draw(runs: list[RunLogs], title: str | None = None):
    """A figure with the loss and perplexity panels of ``runs``."""
    plt = _pyplot()
    figure, (loss_axis, ppl_axis) = plt.subplots(1, 2, figsize=(12, 4.5), dpi=100)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for index, run in enumerate(runs):
        color = colors[index % len(colors)]
        prefix = f"{run.name}: " if len(runs) > 1 else ""
        for label, (steps, values) in curves(run).items():
            axis = ppl_axis if "ppl" in label else loss_axis
            axis.plot(steps, values, color=color, label=prefix + label + _NOTES.get(label, ""),
                      **_STYLES[label])
    loss_axis.set_ylabel("cross-entropy per token (nats)")
    ppl_axis.set_ylabel("perplexity")
    ppl_axis.set_yscale("log")
    for axis, name in ((loss_axis, "loss"), (ppl_axis, "perplexity")):
        axis.set_xlabel("optimizer step")
        axis.set_title(name if len(runs) > 1 or not title else f"{title}: {name}")
        axis.grid(alpha=0.3)
        if axis.lines:
            axis.legend(fontsize=7)
    figure.tight_layout()
    return figure


def plot_runs(run_dirs, out_stem: str | Path, title: str | None = None, names=None,
              formats=("png", "svg")) -> list[Path]:
    """Draw the runs in ``run_dirs`` and write ``out_stem.png`` / ``.svg``; returns the files."""
    runs = [read_run(path, name) for path, name in zip(run_dirs, names or _names(run_dirs))]
    if not any(run.train or run.eval for run in runs):
        raise UserError("the logs hold no rows yet; plot again once training has logged a step")
    return write_figure(runs, out_stem, title, formats)


def write_figure(runs: list[RunLogs], out_stem: str | Path, title: str | None = None,
                 formats=("png", "svg")) -> list[Path]:
    """Draw ``runs`` and write ``out_stem.FORMAT`` for each format (atomically)."""
    from dialogpt.fileio import atomic_write

    plt = _pyplot()
    figure = draw(runs, title)
    written = []
    for fmt in formats:
        path = Path(f"{out_stem}.{fmt}")
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_write(path, "wb") as handle:
            figure.savefig(handle, format=fmt)
        written.append(path)
    plt.close(figure)
    return written


def _names(run_dirs) -> list[str]:
    """Short distinct labels: folder names, with parents added while two are equal."""
    paths = [Path(path).resolve() for path in run_dirs]
    depth = 1
    while True:
        names = ["/".join(path.parts[-depth:]) for path in paths]
        if len(set(names)) == len(names) or depth > 8:
            return names
        depth += 1


@dataclass
class PlotConfig:
    """The runs to draw and where the figure goes."""

    run_dirs: list[str] = flag(help="LSP_train.py --output_dir folders (or demo folders)",
                               nargs="+", metavar="RUN_DIR", positional=True)
    out: str | None = flag(None, "output path without suffix (default: RUN_DIR/curves, in the "
                           "first RUN_DIR when there are several)")
    title: str | None = flag(None, "title of the panels")
    formats: list[str] = flag(help="files to write", nargs="+", choices=["png", "svg", "pdf"],
                              default_factory=lambda: ["png", "svg"])


def build_parser():
    return build_config_parser(PlotConfig, "python -m dialogpt.plot", __doc__)


def main(argv=None) -> int:
    config = parse_config(PlotConfig, build_parser(), argv)
    setup_logging()
    for path in config.run_dirs:
        if not Path(path).is_dir():
            raise UserError(f"RUN_DIR {path} does not exist or is not a directory")
    out = config.out or str(Path(config.run_dirs[0]) / "curves")
    for path in plot_runs(config.run_dirs, out, config.title, formats=config.formats):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(run_main(main))
