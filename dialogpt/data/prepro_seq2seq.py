"""``prepro.py`` for GODEL records: JSONL -> a ``seq2seq`` token DB, and ``--inspect`` of both.

    python prepro.py --corpus data/train.jsonl --tokenizer DIR   -> data/train.512src128tgt.card.db/
    python prepro.py --inspect data/train.512src128tgt.card.db    -> source text, ids, target ids
    python prepro.py --inspect data/train.jsonl --tokenizer DIR   -> the same, straight from records

The seq2seq kind of the build: :func:`seq2seq_plan` is its step of the skeleton shared with the
TSV path (:mod:`dialogpt.data.prepro_build`): binary line reading, batched encoding in
``--workers`` processes with results in corpus order (byte-identical DBs for any worker count),
skip-and-count with line numbers or ``--strict``, atomic build, no-op re-runs.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from dialogpt.cli import UserError
from dialogpt.data.prepro_build import BuildPlan, corpus_identity
from dialogpt.grounding import DEFAULT_MAX_SOURCE_LEN

RECORD_SUFFIXES = (".jsonl", ".json")
DEFAULT_MAX_TARGET_LEN = 128
DEFAULT_TOKENIZER = "microsoft/GODEL-v1_1-base-seq2seq"


def is_records_file(path: str | os.PathLike, fmt: str = "auto") -> bool:
    """True for GODEL JSON lines: ``--format jsonl``, or ``auto`` and a ``.jsonl``/``.json`` name."""
    if fmt != "auto":
        return fmt == "jsonl"
    return Path(path).suffix.lower() in RECORD_SUFFIXES


def db_path_for_records(corpus: str | os.PathLike, max_source_len: int, max_target_len: int,
                        template: str) -> Path:
    """``data/train.jsonl`` -> ``data/train.512src128tgt.card.db``."""
    corpus = Path(corpus)
    stem = corpus.stem if corpus.suffix.lower() in RECORD_SUFFIXES else corpus.name
    return corpus.with_name(f"{stem}.{max_source_len}src{max_target_len}tgt.{template}.db")


def load_seq2seq_tokenizer(name: str | None):
    """The tokenizer of a seq2seq DB (default: GODEL v1.1's T5 vocabulary from the Hub)."""
    from dialogpt.tokenization import load_tokenizer

    try:
        return load_tokenizer(name or DEFAULT_TOKENIZER)
    except UserError as exc:
        if "gpt2-bpe" not in str(exc):
            raise
        raise UserError(f"{exc} (GODEL records need a T5 tokenizer: a local directory such as "
                        "one made by dialogpt.tokenization.train_t5_tokenizer; the GPT-2 "
                        "vocabulary has no pad token)") from exc


def check_record_limits(template: str, max_source_len: int, max_target_len: int,
                        knowledge_budget: int | None) -> None:
    """``UserError`` for a template or limits a seq2seq DB cannot be built with."""
    from dialogpt.grounding import TEMPLATES

    if template not in TEMPLATES:
        raise UserError(f"--template must be one of {', '.join(TEMPLATES)}, got {template!r}")
    if max_source_len < 2 or max_target_len < 2:
        raise UserError("--max_source_len and --max_target_len must be >= 2")
    if knowledge_budget is not None and not 0 <= knowledge_budget <= max_source_len:
        raise UserError(f"--knowledge_budget must be in [0, --max_source_len], "
                        f"got {knowledge_budget}")


def make_config(tokenizer, template: str, instruction: str, max_source_len: int,
                max_target_len: int, knowledge_budget: int | None):
    from dialogpt.data.db import length_dtype_for, token_dtype_for
    from dialogpt.data.seq2seq import Seq2SeqConfig

    check_record_limits(template, max_source_len, max_target_len, knowledge_budget)
    return Seq2SeqConfig(template, instruction, max_source_len, max_target_len,
                         max_source_len // 2 if knowledge_budget is None else knowledge_budget,
                         token_dtype_for(len(tokenizer)),
                         length_dtype_for(max(max_source_len, max_target_len)))


def seq2seq_plan(corpus: Path, *, tokenizer_name: str | None, template: str = "card",
                 instruction: str = "", max_source_len: int = DEFAULT_MAX_SOURCE_LEN,
                 max_target_len: int = DEFAULT_MAX_TARGET_LEN,
                 knowledge_budget: int | None = None) -> BuildPlan:
    """The seq2seq kind's step of the build skeleton (:mod:`dialogpt.data.prepro_build`)."""
    from dialogpt.data.db import FORMAT_VERSION
    from dialogpt.data.seq2seq import SourceEncoder
    from dialogpt.tokenization import tokenizer_fingerprint

    tokenizer = load_seq2seq_tokenizer(tokenizer_name)
    encoder = SourceEncoder(tokenizer)
    config = make_config(tokenizer, template, instruction, max_source_len, max_target_len,
                         knowledge_budget)
    fingerprint = tokenizer_fingerprint(tokenizer)
    limits = {"template": template, "instruction": instruction,
              "max_source_len": max_source_len, "max_target_len": max_target_len,
              "knowledge_budget": config.knowledge_budget}
    build_key = {"format_version": FORMAT_VERSION, "kind": "seq2seq", **corpus_identity(corpus),
                 **limits, "tokenizer_fingerprint": fingerprint, "eos_id": encoder.eos_id,
                 "pad_id": encoder.pad_id}
    manifest = {"tokenizer": tokenizer_name or DEFAULT_TOKENIZER,
                "tokenizer_fingerprint": fingerprint, "vocab_size": len(tokenizer),
                "eos_id": encoder.eos_id, "pad_id": encoder.pad_id, **limits}
    return BuildPlan("seq2seq", encoder, config, build_key, manifest,
                     title=f" (seq2seq, template {template})")


def _write_json_lines(rows) -> None:
    try:
        for row in rows:
            sys.stdout.write(json.dumps(row, ensure_ascii=False) + "\n")
        sys.stdout.flush()
    except BrokenPipeError:  # `prepro.py --inspect X | head`
        sys.stdout = open(os.devnull, "w")


def inspect_seq2seq_db(db, limit: int | None, tokenizer_name: str | None = None) -> int:
    """One JSON line per example: ``{id, source, input_ids, labels, target}`` (texts decoded with
    the DB's tokenizer, or ``--tokenizer``; left out with a note when it cannot be loaded)."""
    name = tokenizer_name or db.manifest.get("tokenizer")
    try:
        tokenizer = load_seq2seq_tokenizer(name)
    except UserError as exc:
        print(f"note: texts left out, the tokenizer does not load ({exc})", file=sys.stderr)
        tokenizer = None
    count = len(db) if limit is None else max(0, min(limit, len(db)))

    def rows():
        for index in range(count):
            source, target = db[index]
            row = {"id": index, "input_ids": source.tolist(), "labels": target.tolist()}
            if tokenizer is not None:
                row = {"id": index, "source": tokenizer.decode(source.tolist()),
                       "input_ids": row["input_ids"], "labels": row["labels"],
                       "target": tokenizer.decode(target.tolist())}
            yield row
    _write_json_lines(rows())
    return 0


def inspect_records(path: str | os.PathLike, limit: int | None, *, tokenizer_name: str | None,
                    template: str, instruction: str, max_source_len: int, max_target_len: int,
                    knowledge_budget: int | None) -> int:
    """One JSON line per record of a GODEL file as prepro would encode it: the exact source
    string, its ids, the target ids and what was cut; or the skip reason of a bad line."""
    from dialogpt.data.lines import read_raw_lines
    from dialogpt.data.seq2seq import SourceEncoder, encode_records, read_records

    path = Path(path)
    tokenizer = load_seq2seq_tokenizer(tokenizer_name)
    encoder = SourceEncoder(tokenizer)
    config = make_config(tokenizer, template, instruction, max_source_len, max_target_len,
                         knowledge_budget)

    def rows():
        shown = 0
        with open(path, "rb") as handle:
            for number, raw in enumerate(read_raw_lines(handle), start=1):
                if limit is not None and shown >= limit:
                    return
                shown += 1
                numbered, skips, _, _ = read_records(number, [raw], instruction)
                examples, too_long = encode_records(numbered, encoder, config)
                for line, reason, detail in skips + too_long:
                    yield {"line": line, "skipped": reason, "detail": detail}
                for e in examples:
                    yield {"line": e.line, "source": e.fit.text, "input_ids": e.source_ids,
                           "labels": e.target_ids, "target": tokenizer.decode(e.target_ids),
                           "cut": {"turns_dropped": e.fit.turns_dropped,
                                   "knowledge_cut": e.fit.knowledge_cut,
                                   "newest_turn_cut": e.fit.newest_turn_cut,
                                   "target_cut": e.target_cut}}
    _write_json_lines(rows())
    return 0
