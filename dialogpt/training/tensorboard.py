"""``LSP_train.py --tensorboard``: the rows of ``train_log.jsonl`` / ``eval_log.jsonl`` as
TensorBoard scalars (``torch.utils.tensorboard``), written to ``OUTPUT_DIR/tensorboard``.

Every numeric field of a row but ``global_step`` becomes ``train/<field>`` or ``eval/<field>``
at step ``global_step``, so TensorBoard shows exactly the numbers of the JSON-lines logs
(``tensorboard --logdir OUTPUT_DIR/tensorboard``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

SUBDIR = "tensorboard"


class TensorBoardLog:
    """Scalars of log rows; rank 0 only, like the log files."""

    def __init__(self, output_dir: str | Path, purge_step: int | None = None) -> None:
        from dialogpt.extras import require

        SummaryWriter = require("torch.utils.tensorboard", "--tensorboard",
                                " (or run without --tensorboard)").SummaryWriter
        self.log_dir = Path(output_dir) / SUBDIR
        # purge_step: on resume, events after the checkpoint's step (written by the interrupted
        # run) are hidden, as the log files drop their rows
        self._writer = SummaryWriter(str(self.log_dir), purge_step=purge_step)

    def add_row(self, prefix: str, row: Mapping[str, Any]) -> None:
        step = int(row["global_step"])
        for key, value in row.items():
            if key == "global_step" or isinstance(value, bool):
                continue
            number = _as_float(value)
            if number is not None:
                self._writer.add_scalar(f"{prefix}/{key}", number, step)

    def close(self) -> None:
        self._writer.flush()
        self._writer.close()


def _as_float(value: Any) -> float | None:
    """A number of a log row (``"nan"``/``"inf"`` strings, as the JSON logs write them,
    included); None for anything else."""
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None
