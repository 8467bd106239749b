"""Training and evaluation logs, written by rank 0.

- ``train_log.txt``: ``epoch,global_step,step,mean_loss,mean_ppl,n_token_real,n_token_total,
  epoch_time``, one row per optimizer step, the original's columns and meanings (running means
  over the epoch, token counts summed over the epoch and all processes) but exact step numbers:
  ``epoch`` counts from 1, ``global_step`` is the number of optimizer steps done, ``step`` the
  number of micro-batches done (per process). ``n_token_real`` counts input tokens that are not
  padding (the original compared ids with 0, a real token), ``n_token_total`` includes padding.
- ``eval_log.txt``: ``epoch,global_step,step,eval_loss,eval_ppl``.
- ``train_log.jsonl`` / ``eval_log.jsonl``: the same rows plus the step's own loss, ``exp(loss)``,
  learning rate, gradient norm, tokens/s and wall time, one JSON object per line.

On resume, rows after the checkpoint's step (written by the interrupted run) are dropped, so the
logs read as if the run had never stopped; so is a torn last line (with a warning), while a
damaged line before it is an error naming the line (``read_log_lines``, also used by plot.py).
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
from pathlib import Path
from typing import Any

from dialogpt.cli import UserError
from dialogpt.fileio import atomic_write

logger = logging.getLogger(__name__)

TRAIN_COLUMNS = ("epoch", "global_step", "step", "mean_loss", "mean_ppl", "n_token_real",
                 "n_token_total", "epoch_time")
EVAL_COLUMNS = ("epoch", "global_step", "step", "eval_loss", "eval_ppl")
TRAIN_LOG, EVAL_LOG = "train_log.txt", "eval_log.txt"
TRAIN_JSONL, EVAL_JSONL = "train_log.jsonl", "eval_log.jsonl"


def _json_value(value: Any) -> Any:
    """JSON has no NaN/inf: write them as strings so every line stays valid JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def _jsonl_step(line: str) -> int:
    row = json.loads(line)
    if not isinstance(row, dict) or not isinstance(row.get("global_step"), int):
        raise ValueError("not a log row (no integer global_step)")
    return row["global_step"]


def _csv_step(line: str) -> int:
    cells = next(csv.reader(io.StringIO(line)))
    if len(cells) != len(TRAIN_COLUMNS) and len(cells) != len(EVAL_COLUMNS):
        raise ValueError(f"{len(cells)} columns")
    return int(cells[1])


def read_log_lines(path: Path, is_jsonl: bool) -> list[tuple[str, int | None]]:
    """``(line, global_step)`` of each line of a log (``None``: the CSV header or a blank line).

    A last line that does not parse is the append a power cut or a full disk interrupted: it is
    dropped with a warning (the run lost at most that row). A line that does not parse before
    the last one is damage nothing of ours makes: ``UserError`` naming the file and line.
    """
    text = path.read_text(encoding="utf-8", errors="replace")
    lines = text.splitlines(keepends=True)
    last = max((i for i, line in enumerate(lines) if line.strip()), default=-1)
    rows = []
    for index, line in enumerate(lines):
        if not line.strip() or (index == 0 and not is_jsonl):
            rows.append((line, None))
            continue
        try:
            rows.append((line, _jsonl_step(line) if is_jsonl else _csv_step(line)))
        except (ValueError, StopIteration) as exc:
            if index != last:
                raise UserError(f"{path} line {index + 1} is damaged ({exc}): only the last "
                                "line can be torn by an interrupted write. Delete or repair "
                                "that line, then run again") from None
            logger.warning("%s: its last line (%d) is incomplete (an interrupted write): "
                           "dropped", path, index + 1)
    return rows


def read_jsonl_rows(path: Path) -> list[dict[str, Any]]:
    """The rows of a ``*_log.jsonl`` (a torn last line dropped, see ``read_log_lines``)."""
    return [json.loads(line) for line, step in read_log_lines(path, True) if step is not None]


def _keep_rows_up_to(path: Path, last_step: int, is_jsonl: bool) -> None:
    """Rewrite ``path`` without rows whose ``global_step`` exceeds ``last_step`` (and without a
    torn last line)."""
    if not path.exists():
        return
    kept = [line if line.endswith("\n") else line + "\n"
            for line, step in read_log_lines(path, is_jsonl) if step is None or step <= last_step]
    with atomic_write(path) as handle:
        handle.writelines(kept)


class RunLogger:
    """Appends rows to the four log files and drives the progress bar (rank 0 only)."""

    def __init__(self, log_dir: str | Path, enabled: bool, resume_step: int | None,
                 total_steps: int, show_bar: bool, tensorboard: bool = False):
        self.enabled = enabled
        self._bar = None
        self._tensorboard = None
        self._files: dict[str, Any] = {}
        if not enabled:
            return
        if tensorboard:  # the same rows as TensorBoard scalars, in log_dir/tensorboard
            from dialogpt.training.tensorboard import TensorBoardLog
            self._tensorboard = TensorBoardLog(
                log_dir, purge_step=None if resume_step is None else resume_step + 1)
        log_dir = Path(log_dir)
        log_dir.mkdir(parents=True, exist_ok=True)
        names = {TRAIN_LOG: TRAIN_COLUMNS, EVAL_LOG: EVAL_COLUMNS, TRAIN_JSONL: None,
                 EVAL_JSONL: None}
        for name, columns in names.items():
            path = log_dir / name
            if resume_step is None:
                path.unlink(missing_ok=True)
            else:
                _keep_rows_up_to(path, resume_step, is_jsonl=columns is None)
            fresh = not path.exists() or path.stat().st_size == 0
            handle = open(path, "a", encoding="utf-8", buffering=1)
            if columns is not None and fresh:
                handle.write(",".join(columns) + "\n")
            self._files[name] = handle
        if show_bar:
            from tqdm import tqdm
            self._bar = tqdm(total=total_steps, initial=resume_step or 0, desc="training",
                             dynamic_ncols=True)

    def _write(self, csv_name: str, columns: tuple[str, ...], jsonl_name: str,
               row: dict[str, Any]) -> None:
        if not self.enabled:
            return
        self._files[csv_name].write(",".join(str(row[column]) for column in columns) + "\n")
        line = json.dumps({key: _json_value(value) for key, value in row.items()})
        self._files[jsonl_name].write(line + "\n")

    def train_row(self, row: dict[str, Any]) -> None:
        self._write(TRAIN_LOG, TRAIN_COLUMNS, TRAIN_JSONL, row)
        if self._tensorboard is not None:
            self._tensorboard.add_row("train", row)
        if self._bar is not None:
            self._bar.set_postfix(loss=f"{row['loss']:.3f}", ppl=f"{row['ppl']:.2f}",
                                  tok_s=f"{row['tokens_per_s']:.0f}", refresh=False)
            self._bar.update(1)

    def eval_row(self, row: dict[str, Any]) -> None:
        self._write(EVAL_LOG, EVAL_COLUMNS, EVAL_JSONL, row)
        if self._tensorboard is not None:
            self._tensorboard.add_row("eval", row)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
        if self._tensorboard is not None:
            self._tensorboard.close()
            self._tensorboard = None
        for handle in self._files.values():
            handle.close()
        self._files.clear()
