"""``prepro.py``: a multi-turn TSV corpus -> a sharded, memory-mapped token DB.

    python prepro.py --corpus data/train.tsv --max_seq_len 128      -> data/train.128len.db/
    python prepro.py --inspect data/train.128len.db --limit 5       -> one JSON object per example

The feature rules are the original's (``dialogpt.data.features``); what differs is safety and
speed: malformed lines are skipped and counted by reason with their line numbers (or stop the run
under ``--strict``), no feature is ever longer than ``max_seq_len``, the DB is built in a
temporary directory and renamed into place, tokenisation runs batched in ``--workers`` processes
with bounded memory, and re-running with the same corpus and arguments is a no-op.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from pathlib import Path

from dialogpt.cli import UserError, run_main, setup_logging
from dialogpt.config import build_parser as build_config_parser
from dialogpt.config import parse_config
from dialogpt.data.prepro_causal import causal_plan, db_path_for
from dialogpt.data.prepro_config import PreproConfig, default_workers

__all__ = ["main", "build", "build_parser", "inspect_db", "db_path_for", "default_workers"]
"""``build`` (a ``PreproConfig``), ``db_path_for`` and ``default_workers`` are the prepro names
other tools import from here."""


def build_parser():
    """The ``prepro.py`` parser: one flag per :class:`PreproConfig` field, in field order."""
    parts = __doc__.split("\n\n")
    return build_config_parser(PreproConfig, "prepro.py", parts[0] + "\n\n" + parts[1])


def inspect_db(path: str, limit: int | None, tokenizer: str | None = None) -> int:
    from dialogpt.data.db_open import open_db

    db = open_db(path)
    if db.kind == "seq2seq":
        from dialogpt.data.prepro_seq2seq import inspect_seq2seq_db

        return inspect_seq2seq_db(db, limit, tokenizer)
    count = len(db) if limit is None else max(0, min(limit, len(db)))
    try:
        for index in range(count):
            input_ids, labels = db[index]
            record = {"id": index, "input_ids": input_ids.tolist(), "lm_labels": labels.tolist(),
                      "weights": db.token_weights(index).tolist()}
            sys.stdout.write(json.dumps(record) + "\n")
        sys.stdout.flush()
    except BrokenPipeError:  # `prepro.py --inspect DB | head`
        sys.stdout = open(os.devnull, "w")
    return 0


def main(argv: list[str] | None = None) -> int:
    config = parse_config(PreproConfig, build_parser(), argv)
    setup_logging()
    return _inspect(config) if config.inspect else build(config)


def build(config: PreproConfig) -> int:
    """Build the DB of ``config.corpus`` (a validated config; the demo calls this): checks the
    paths, holds the DB's lock, returns 0 (``UserError`` for bad input)."""
    from dialogpt.cli import check_paths, check_writable
    from dialogpt.data.prepro_build import build_db
    from dialogpt.locking import hold_run_lock

    write_shards = None
    if config.executor == "ray":  # fails at once without Ray
        from dialogpt.data.prepro_cluster import ray_shard_writer

        write_shards = ray_shard_writer(config.ray_options())
    if config.records:
        from dialogpt.data.prepro_seq2seq import seq2seq_plan

        plan = functools.partial(seq2seq_plan, **config.record_options())
    else:
        plan = functools.partial(causal_plan, **config.causal_options())
    db_path = config.db_path()
    check_paths(input_files={"--corpus": config.corpus}, output_dirs={"--output": db_path})
    check_writable("--output", db_path, db_path.parent)  # its lock and temporaries go there
    with hold_run_lock(db_path, flag="--output", inside=False):  # one run per DB
        return build_db(config.corpus, db_path, plan, write_shards=write_shards,
                        **config.build_options())


def _inspect(config: PreproConfig) -> int:
    """``--inspect``: a DB directory, or a GODEL JSONL file as prepro would encode it."""
    if Path(config.inspect).is_file():
        if not config.records:
            raise UserError(f"--inspect {config.inspect}: a file must be GODEL JSON lines "
                            "(.jsonl, or --format jsonl); otherwise pass a DB directory")
        from dialogpt.data.prepro_seq2seq import inspect_records

        return inspect_records(config.inspect, config.limit, **config.record_options())
    return inspect_db(config.inspect, config.limit, config.tokenizer)


if __name__ == "__main__":
    raise SystemExit(run_main(main))
