"""``prepro.py`` for GODEL records: JSONL -> a ``seq2seq`` token DB, and ``--inspect`` of both.

    python prepro.py --corpus data/train.jsonl --tokenizer DIR   -> data/train.512src128tgt.card.db/
    python prepro.py --inspect data/train.512src128tgt.card.db    -> source text, ids, target ids
    python prepro.py --inspect data/train.jsonl --tokenizer DIR   -> the same, straight from records

Same machinery as the TSV path (:mod:`dialogpt.data.prepro`): binary line reading, batched
encoding in ``--workers`` processes with results in corpus order (byte-identical DBs for any worker
count), skip-and-count with line numbers or ``--strict``, atomic build, no-op re-runs.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from dialogpt.cli import UserError
from dialogpt.data.seq2seq import MALFORMED_REASONS, SKIP_REASONS, CutStats
from dialogpt.data.skips import SkippedLines, format_skips

RECORD_SUFFIXES = (".jsonl", ".json")
DEFAULT_MAX_SOURCE_LEN = 512
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


@dataclass
class Seq2SeqSummary:
    """Counters of a seq2seq prepro run; ``lines_written + lines_skipped == lines_read``."""

    lines_read: int = 0
    lines_written: int = 0
    source_tokens: int = 0
    target_tokens: int = 0
    crlf_line_endings: int = 0
    bom_removed: int = 0
    cuts: CutStats = field(default_factory=CutStats)
    skipped: SkippedLines = field(default_factory=SkippedLines)

    def add(self, result) -> None:
        self.lines_read += result.n_lines
        self.lines_written += result.n_lines_written
        self.source_tokens += result.source_tokens
        self.target_tokens += result.target_tokens
        self.crlf_line_endings += result.crlf
        self.bom_removed += result.bom
        self.cuts.add(result.cuts)
        self.skipped.add_all(result.skips)

    @property
    def lines_skipped(self) -> int:
        return self.skipped.total

    def to_dict(self) -> dict:
        return {
            "lines_read": self.lines_read, "lines_written": self.lines_written,
            "lines_skipped": self.lines_skipped,
            "skipped": self.skipped.to_dict(SKIP_REASONS),
            "normalised": {"crlf_line_endings": self.crlf_line_endings,
                           "bom_removed": self.bom_removed},
            "examples": self.lines_written, "source_tokens": self.source_tokens,
            "target_tokens": self.target_tokens,
            "cuts": {"records_cut": self.cuts.records_cut,
                     "records_with_turns_dropped": self.cuts.records_turns_dropped,
                     "turns_dropped": self.cuts.turns_dropped,
                     "knowledge_cut": self.cuts.knowledge_cut,
                     "newest_turn_cut": self.cuts.newest_turn_cut,
                     "target_cut": self.cuts.target_cut},
        }

    def format(self) -> str:
        c = self.cuts
        lines = [f"lines read     {self.lines_read}",
                 f"lines written  {self.lines_written}  ({self.source_tokens} source tokens, "
                 f"{self.target_tokens} target tokens)",
                 f"lines skipped  {self.lines_skipped}",
                 *format_skips(self.skipped.to_dict(SKIP_REASONS))]
        lines.append(f"cut to the limits: {c.records_cut} sources ({c.turns_dropped} oldest turns "
                     f"dropped from {c.records_turns_dropped} records, knowledge cut in "
                     f"{c.knowledge_cut}, newest turn cut in {c.newest_turn_cut}); "
                     f"{c.target_cut} targets cut")
        if self.crlf_line_endings or self.bom_removed:
            lines.append(f"normalised: {self.crlf_line_endings} CRLF line endings, "
                         f"{self.bom_removed} byte-order marks removed")
        return "\n".join(lines)


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


def make_config(tokenizer, template: str, instruction: str, max_source_len: int,
                max_target_len: int, knowledge_budget: int | None):
    from dialogpt.data.db import length_dtype_for, token_dtype_for
    from dialogpt.data.seq2seq import Seq2SeqConfig
    from dialogpt.grounding import TEMPLATES

    if template not in TEMPLATES:
        raise UserError(f"--template must be one of {', '.join(TEMPLATES)}, got {template!r}")
    if max_source_len < 2 or max_target_len < 2:
        raise UserError("--max_source_len and --max_target_len must be >= 2")
    if knowledge_budget is not None and not 0 <= knowledge_budget <= max_source_len:
        raise UserError(f"--knowledge_budget must be in [0, --max_source_len], "
                        f"got {knowledge_budget}")
    return Seq2SeqConfig(template, instruction, max_source_len, max_target_len,
                         max_source_len // 2 if knowledge_budget is None else knowledge_budget,
                         token_dtype_for(len(tokenizer)),
                         length_dtype_for(max(max_source_len, max_target_len)))


def _write_shards(directory: Path, corpus: Path, encoder, config, workers: int, strict: bool,
                  chunk_lines: int, shard_tokens: int):
    from dialogpt.data import seq2seq
    from dialogpt.data.db import ShardWriter
    from dialogpt.data.prepro import chunked_lines, process_in_order

    summary = Seq2SeqSummary()
    writer = ShardWriter(directory, config.token_dtype, config.length_dtype, shard_tokens,
                         kind="seq2seq")
    from tqdm import tqdm

    with open(corpus, "rb") as handle, tqdm(total=corpus.stat().st_size, unit="B",
                                            unit_scale=True, desc="prepro", disable=None,
                                            leave=False) as bar:  # disable=None: off without a tty
        for result in process_in_order(chunked_lines(handle, chunk_lines), encoder, config,
                                       workers, stage=seq2seq):
            bar.update(handle.tell() - bar.n)
            malformed = [skip for skip in result.skips if skip[1] in MALFORMED_REASONS]
            if strict and malformed:
                line, reason, detail = malformed[0]
                raise UserError(f"{corpus}:{line}: {SKIP_REASONS[reason]}"
                                f"{f' ({detail})' if detail else ''}; fix the line, or run "
                                "without --strict to skip such lines and count them")
            writer.add(result.encoded)
            summary.add(result)
    return writer, summary


def build_seq2seq_db(corpus: str | os.PathLike, db_path: str | os.PathLike, *,
                     tokenizer_name: str | None, template: str = "card", instruction: str = "",
                     max_source_len: int = DEFAULT_MAX_SOURCE_LEN,
                     max_target_len: int = DEFAULT_MAX_TARGET_LEN,
                     knowledge_budget: int | None = None, workers: int = 1, strict: bool = False,
                     force: bool = False, chunk_lines: int = 2000,
                     shard_tokens: int = 1 << 27, write_shards=None) -> int:
    """Build the seq2seq DB of GODEL records ``corpus`` at ``db_path`` (see module docstring).
    ``write_shards``: instead of the local writer (``prepro_cluster.ray_shard_writer``)."""
    from dialogpt.data.db import FORMAT_VERSION, SUMMARY, TokenDB
    from dialogpt.data.seq2seq import SourceEncoder
    from dialogpt.fileio import atomic_dir, atomic_write, sha256_file
    from dialogpt.tokenization import tokenizer_fingerprint

    corpus, db_path = Path(corpus), Path(db_path)
    if not corpus.is_file():
        raise UserError(f"corpus {corpus} does not exist")
    tokenizer = load_seq2seq_tokenizer(tokenizer_name)
    encoder = SourceEncoder(tokenizer)
    config = make_config(tokenizer, template, instruction, max_source_len, max_target_len,
                         knowledge_budget)
    fingerprint = tokenizer_fingerprint(tokenizer)
    build_key = {"format_version": FORMAT_VERSION, "kind": "seq2seq",
                 "corpus_sha256": sha256_file(corpus), "corpus_bytes": corpus.stat().st_size,
                 "template": template, "instruction": instruction,
                 "max_source_len": max_source_len, "max_target_len": max_target_len,
                 "knowledge_budget": config.knowledge_budget,
                 "tokenizer_fingerprint": fingerprint, "eos_id": encoder.eos_id,
                 "pad_id": encoder.pad_id}
    if db_path.exists() and not force:
        built = TokenDB(db_path).manifest.get("build", {})
        different = sorted(key for key in build_key if built.get(key) != build_key[key])
        if different:
            raise UserError(f"{db_path} exists but was built with a different "
                            f"{', '.join(different)}; pass --force to rebuild it (or --output)")
        print(f"{db_path} is up to date (same corpus and arguments); --force rebuilds it")
        return 0
    if build_key["corpus_bytes"] == 0:
        raise UserError(f"corpus {corpus} is empty (0 bytes): nothing to preprocess")
    started = time.perf_counter()
    with atomic_dir(db_path, overwrite=True) as tmp:
        writer, summary = (write_shards or _write_shards)(
            tmp, corpus, encoder, config, workers, strict, chunk_lines, shard_tokens)
        seconds = time.perf_counter() - started
        if summary.lines_written == 0:
            print(summary.format(), file=sys.stderr)
            raise UserError(f"{corpus}: no line produced an example ({summary.lines_read} lines "
                            "read, all skipped; see the reasons above); no DB written")
        report = {"corpus": str(corpus), "db": str(db_path), **summary.to_dict(),
                  "seconds": round(seconds, 3),
                  "lines_per_second": round(summary.lines_read / max(seconds, 1e-9), 1)}
        with atomic_write(tmp / SUMMARY) as out:
            json.dump(report, out, indent=1)
            out.write("\n")
        writer.finish({
            "tokenizer": tokenizer_name or DEFAULT_TOKENIZER,
            "tokenizer_fingerprint": fingerprint, "vocab_size": len(tokenizer),
            "eos_id": encoder.eos_id, "pad_id": encoder.pad_id, "template": template,
            "instruction": instruction, "max_source_len": max_source_len,
            "max_target_len": max_target_len, "knowledge_budget": config.knowledge_budget,
            "n_labelled_tokens": summary.target_tokens, "build": build_key})
    print(f"prepro: {corpus} -> {db_path} (seq2seq, template {template})\n{summary.format()}\n"
          f"{seconds:.1f} s, {report['lines_per_second']:.0f} lines/s")
    return 0


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
