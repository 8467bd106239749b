"""The ``columns`` form of ``convert_task.py chat``: a local JSON/JSONL/CSV/Parquet table read
through ``datasets`` (imported here only; install the ``tasks`` extra), one example per row.

Columns (named by ``--context_field``, ``--knowledge_field``, ``--response_field``,
``--instruction_field``): the context is a string (turns joined by `` EOS ``) or a list of turns;
the knowledge and instruction columns are optional (absent, empty or null = none). A row whose
cells do not fit is skipped and counted by reason (``parse_record``'s reasons).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from dialogpt.cli import UserError
from dialogpt.data.tasks.common import Dialog, Progress, Tally
from dialogpt.grounding import BadRecord, parse_record

BUILDERS = {".json": "json", ".jsonl": "json", ".csv": "csv", ".parquet": "parquet"}
OPTIONAL = ("knowledge", "instruction")


def load_table(path: Path, cache_dir: str):
    """The rows of ``path`` as a ``datasets.Dataset`` (its arrow cache in ``cache_dir``)."""
    from dialogpt.extras import require

    datasets = require("datasets", "reading CSV/Parquet/column tables")
    datasets.disable_progress_bars()
    builder = BUILDERS[path.suffix.lower()]
    try:
        return datasets.load_dataset(builder, data_files=str(path), split="train",
                                     cache_dir=cache_dir)
    except Exception as exc:  # datasets wraps parser errors in several exception types
        cause = exc.__cause__ or exc
        raise UserError(f"{path}: cannot be read as {builder.upper()} "
                        f"({type(cause).__name__}: {str(cause).splitlines()[0][:200]}); "
                        "expected a table with context and response columns") from None


def check_columns(path: Path, columns: list[str], fields: dict[str, str]) -> None:
    """The context and response columns must be there; an optional one only when it was named
    (its default name, e.g. ``Knowledge``, may be absent)."""
    missing = [f"--{role}_field {name}" for role, name in fields.items()
               if name not in columns and (role not in OPTIONAL or name != role.capitalize())]
    if missing:
        raise UserError(f"{path}: no column {', '.join(missing)}; its columns are "
                        f"{', '.join(columns) or '(none)'}. Name the right ones with "
                        "--context_field/--response_field (or use --chat_format openai/sharegpt)")


def row_record(row: dict, fields: dict[str, str]) -> dict:
    """One row -> a GODEL record; raises ``BadRecord`` (``parse_record``'s checks)."""
    obj = {"Context": row.get(fields["context"]), "Response": row.get(fields["response"])}
    for role in OPTIONAL:
        value = row.get(fields[role])
        if value not in (None, ""):
            obj[role.capitalize()] = value
    parsed = parse_record(obj)
    context = obj["Context"]
    return {"Context": context, "Knowledge": parsed.knowledge, "Response": parsed.response,
            **({"Instruction": parsed.instruction} if parsed.instruction else {})}


def read_columns(path: Path, fields: dict[str, str], tally: Tally) -> list[Dialog]:
    dialogs = []
    with tempfile.TemporaryDirectory(prefix="convert-task-cache.") as cache:
        table = load_table(path, cache)
        check_columns(path, table.column_names, fields)
        progress = Progress(f"chat {path.name}", unit="rows")
        for index, row in enumerate(table):
            progress.tick()
            try:
                example = row_record(row, fields)
            except BadRecord as exc:
                tally.skip(exc.reason)
                continue
            dialogs.append(Dialog(str(index), [example]))
    if not dialogs and tally.skipped:
        raise UserError(f"{path}: no usable row ({', '.join(tally.skipped)}); expected "
                        f"string context and response columns")
    return dialogs
