"""The DB-build skeleton shared by both DB kinds: corpus -> chunks -> shards -> summary and
manifest, in a temporary directory renamed into place.

What a kind contributes is a :class:`BuildPlan`, made by its ``plan`` function once the
tokenizer is loaded (:func:`dialogpt.data.prepro_causal.causal_plan` for TSV,
:func:`dialogpt.data.prepro_seq2seq.seq2seq_plan` for GODEL records): its encoder and chunk
config, the build key that makes a re-run a no-op, and its manifest fields. :func:`build_db`
does the rest, the same way for both: the checks, the existing-DB comparison, the shards (here
or through a ``write_shards`` hook such as ``prepro_cluster.ray_shard_writer``), the summary and
the manifest.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from dialogpt.cli import UserError
from dialogpt.data.prepro_summary import BuildSummary, summary_class_for


@dataclass
class BuildPlan:
    """What the skeleton needs of a DB kind, once its tokenizer is loaded."""

    kind: str
    """``causal`` or ``seq2seq``: the shard layout, the chunk stage and the summary"""
    encoder: object
    config: object
    """the chunk stage's config (``FeatureConfig`` or ``Seq2SeqConfig``; with the dtypes)"""
    build_key: dict
    """the inputs that decide the DB's bytes: an existing DB with the same key is up to date"""
    manifest: dict
    """the kind's manifest fields (``n_labelled_tokens`` and ``build`` are added)"""
    title: str = ""
    """said after ``prepro: CORPUS -> DB`` (e.g. the template)"""


def corpus_identity(corpus: Path) -> dict:
    """The corpus fields of a build key: its sha256 and size."""
    from dialogpt.fileio import sha256_file

    return {"corpus_sha256": sha256_file(corpus), "corpus_bytes": corpus.stat().st_size}


def check_existing(db_path: Path, build_key: dict) -> None:
    """Return if the DB at ``db_path`` is complete and built from the same inputs, else raise."""
    from dialogpt.data.db_open import open_db

    built = open_db(db_path).manifest.get("build", {})
    different = sorted(key for key in build_key if built.get(key) != build_key[key])
    if different:
        raise UserError(f"{db_path} exists but was built with a different "
                        f"{', '.join(different)}; pass --force to rebuild it (or --output DIR)")


def malformed_error(corpus: Path, skip: tuple, meanings: dict) -> UserError:
    """The ``--strict`` error of a malformed line ``(line, reason, detail)``."""
    line, reason, detail = skip
    return UserError(f"{corpus}:{line}: {meanings[reason]}{f' ({detail})' if detail else ''}; "
                     "fix the line, or run without --strict to skip such lines and count them")


def write_local_shards(directory: Path, corpus: Path, encoder, config, workers: int,
                       strict: bool, chunk_lines: int, shard_tokens: int, *, kind: str):
    """Stream the corpus through ``workers`` processes into shards under ``directory``.

    Returns the (unfinished) ``ShardWriter`` and the summary. The signature (after ``kind``) is
    that of a ``write_shards`` hook."""
    from tqdm import tqdm

    from dialogpt.data.db import ShardWriter
    from dialogpt.data.prepro_chunks import chunked_lines, process_in_order, stage_for

    summary = summary_class_for(kind)()
    writer = ShardWriter(directory, config.token_dtype, config.length_dtype, shard_tokens,
                         kind=kind)
    with open(corpus, "rb") as handle, tqdm(total=corpus.stat().st_size, unit="B",
                                            unit_scale=True, desc="prepro", disable=None,
                                            leave=False) as bar:  # disable=None: off without a tty
        for result in process_in_order(chunked_lines(handle, chunk_lines), encoder, config,
                                       workers, stage_for(kind)):
            bar.update(handle.tell() - bar.n)  # bytes read so far (a few chunks ahead with workers)
            malformed = summary.first_malformed(result.skips)
            if strict and malformed:
                raise malformed_error(corpus, malformed, summary.skip_reasons)
            writer.add(result.encoded)
            summary.add(result)
    return writer, summary


def build_db(corpus: str | os.PathLike, db_path: str | os.PathLike,
             plan: Callable[[Path], BuildPlan], *, workers: int = 1, strict: bool = False,
             force: bool = False, chunk_lines: int = 2000, shard_tokens: int = 1 << 27,
             write_shards=None) -> int:
    """Build the DB of ``corpus`` at ``db_path``; ``plan(corpus)`` is the kind's step.
    ``write_shards``: instead of the local writer (``prepro_cluster.ray_shard_writer``)."""
    from dialogpt.data.db import SUMMARY
    from dialogpt.fileio import atomic_dir, atomic_write

    corpus, db_path = Path(corpus), Path(db_path)
    if not corpus.is_file():
        raise UserError(f"corpus {corpus} does not exist")
    built = plan(corpus)
    if db_path.exists() and not force:
        check_existing(db_path, built.build_key)
        print(f"{db_path} is up to date (same corpus and arguments); --force rebuilds it")
        return 0
    if built.build_key["corpus_bytes"] == 0:
        raise UserError(f"corpus {corpus} is empty (0 bytes): nothing to preprocess")
    started = time.perf_counter()
    with atomic_dir(db_path, overwrite=True) as tmp:
        if write_shards is None:
            writer, summary = write_local_shards(tmp, corpus, built.encoder, built.config,
                                                 workers, strict, chunk_lines, shard_tokens,
                                                 kind=built.kind)
        else:
            writer, summary = write_shards(tmp, corpus, built.encoder, built.config, workers,
                                           strict, chunk_lines, shard_tokens)
        seconds = time.perf_counter() - started
        report = _summary_report(corpus, db_path, summary, seconds)
        with atomic_write(tmp / SUMMARY) as out:
            json.dump(report, out, indent=1)
            out.write("\n")
        writer.finish({**built.manifest, "n_labelled_tokens": summary.labelled_tokens,
                       "build": built.build_key})
    print(f"prepro: {corpus} -> {db_path}{built.title}\n{summary.format()}\n"
          f"{seconds:.1f} s, {report['lines_per_second']:.0f} lines/s")
    return 0


def _summary_report(corpus: Path, db_path: Path, summary: BuildSummary, seconds: float) -> dict:
    """``summary.json``; a run where no line made an example is an error instead."""
    if summary.examples == 0:
        print(summary.format(), file=sys.stderr)
        raise UserError(f"{corpus}: no line produced an example ({summary.lines_read} lines "
                        "read, all skipped; see the reasons above); no DB written")
    return {"corpus": str(corpus), "db": str(db_path), **summary.to_dict(),
            "seconds": round(seconds, 3),
            "lines_per_second": round(summary.lines_read / max(seconds, 1e-9), 1)}
