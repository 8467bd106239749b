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

import json
import os
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Iterator

from dialogpt.cli import UserError, add_bool_flag, make_parser, run_main, setup_logging
from dialogpt.data.features import MALFORMED_REASONS, SKIP_REASONS, WindowStats
from dialogpt.data.skips import SkippedLines, format_skips

"""How many line numbers the summary keeps per skip reason."""


def default_workers() -> int:
    return max(1, min(4, os.cpu_count() or 1))


def build_parser():
    parser = make_parser("prepro.py", __doc__.split("\n\n")[0] + "\n\n" + __doc__.split("\n\n")[1])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--corpus", help="TSV corpus: CONTEXT<TAB>RESPONSE per line, context turns "
                      "joined by ' EOS ', each turn optionally prefixed by a weight (0.0/1.0); or "
                      "GODEL JSON lines (.jsonl: {Context, Knowledge, Response[, Instruction]}) "
                      "-> a seq2seq DB. TSV -> JSONL: python -m dialogpt.data.convert_tsv")
    mode.add_argument("--inspect", metavar="DB|JSONL", help="print the examples of a DB as JSON "
                      "lines ({id, input_ids, lm_labels, weights}; seq2seq: {id, source, "
                      "input_ids, labels, target}) instead of building one; a .jsonl file: each "
                      "record as it would be encoded (exact source string, ids, cuts)")
    parser.add_argument("--format", choices=("auto", "tsv", "jsonl"), default="auto",
                        help="corpus format; auto: jsonl for a .jsonl/.json name, else tsv")
    parser.add_argument("--max_seq_len", type=int, default=128,
                        help="longest example in tokens; longer conversations are windowed")
    parser.add_argument("--tokenizer", default=None, help="tokenizer directory or Hugging Face "
                        "id (a T5 tokenizer for JSONL); default: 'gpt2-bpe' (the offline real "
                        "GPT-2 BPE) for TSV, microsoft/GODEL-v1_1-base-seq2seq for JSONL")
    add_bool_flag(parser, "--reverse", False, "reverse the turn order (data for the backward "
                  "model used by MMI reranking); adds '.reverse' to the DB name")
    add_bool_flag(parser, "--two_turn", False, "keep only the first two turns; adds '.2turn'")
    parser.add_argument("--workers", type=int, default=default_workers(),
                        help="tokenisation processes (1 = in this process)")
    add_bool_flag(parser, "--strict", False, "stop with an error at the first malformed line "
                  "instead of skipping and counting it")
    add_bool_flag(parser, "--force", False, "rebuild the DB even if it exists")
    parser.add_argument("--output", default=None, help="DB directory (default: the corpus path "
                        "without .tsv + .{max_seq_len}len[.reverse][.2turn].db)")
    parser.add_argument("--limit", type=int, default=None,
                        help="with --inspect: print at most this many examples")
    parser.add_argument("--chunk_lines", type=int, default=2000,
                        help="lines per work unit sent to a worker")
    parser.add_argument("--shard_tokens", type=int, default=1 << 27,
                        help="start a new shard after about this many tokens")
    _add_record_flags(parser)
    from dialogpt.data.prepro_cluster import add_ray_flags

    add_ray_flags(parser)
    return parser


def _add_record_flags(parser) -> None:
    from dialogpt.data.prepro_seq2seq import DEFAULT_MAX_SOURCE_LEN, DEFAULT_MAX_TARGET_LEN

    group = parser.add_argument_group(
        "GODEL records (JSONL -> seq2seq DB; see README 'GODEL')")
    group.add_argument("--template", choices=("card", "repo"), default="card",
                       help="source template: card = v1.1 model cards ('{instruction} [CONTEXT] "
                       "turns [KNOWLEDGE] knowledge'), repo = GODEL repository scripts "
                       "('context <|Knowledge|> knowledge => ')")
    group.add_argument("--instruction", default="", help="instruction of records without their "
                       "own 'Instruction' (card template only), e.g. the card's 'Instruction: "
                       "given a dialog context and related knowledge, you need to response "
                       "safely based on the knowledge.'")
    group.add_argument("--max_source_len", type=int, default=DEFAULT_MAX_SOURCE_LEN,
                       help="longest encoder source in tokens (EOS included); longer sources lose "
                       "their oldest turns, then knowledge beyond its budget, counted. 512 = "
                       "GODEL's README commands and T5's pre-training length (GODEL's own "
                       "default 128 cuts most grounded sources)")
    group.add_argument("--max_target_len", type=int, default=DEFAULT_MAX_TARGET_LEN,
                       help="longest target in tokens (EOS included), cut keeping the EOS and "
                       "counted; 128 = the max_length of both decoding presets")
    group.add_argument("--knowledge_budget", type=int, default=None,
                       help="knowledge tokens kept before older turns (default: half of "
                       "--max_source_len)")


def db_path_for(corpus: str | os.PathLike, max_seq_len: int, reverse: bool = False,
                two_turn: bool = False) -> Path:
    """``data/train.tsv`` -> ``data/train.128len[.reverse][.2turn].db`` (the original's names)."""
    corpus = Path(corpus)
    stem = corpus.name[:-len(".tsv")] if corpus.name.endswith(".tsv") else corpus.name
    attrs = [f"{max_seq_len}len"] + (["reverse"] if reverse else []) + (["2turn"] if two_turn
                                                                         else [])
    return corpus.with_name(".".join([stem, *attrs, "db"]))


@dataclass
class PreproSummary:
    """Counters of a prepro run; ``lines_written + lines_skipped == lines_read`` always."""

    lines_read: int = 0
    lines_written: int = 0
    examples: int = 0
    tokens: int = 0
    labelled_tokens: int = 0
    crlf_line_endings: int = 0
    bom_removed: int = 0
    window: WindowStats = field(default_factory=WindowStats)
    skipped: SkippedLines = field(default_factory=SkippedLines)

    def add(self, result) -> None:
        self.lines_read += result.n_lines
        self.lines_written += result.n_lines_written
        self.examples += result.encoded.n_examples
        self.tokens += len(result.encoded.tokens)
        self.labelled_tokens += result.n_labelled_tokens
        self.crlf_line_endings += result.crlf
        self.bom_removed += result.bom
        self.window.add(result.window)
        self.skipped.add_all(result.skips)

    @property
    def lines_skipped(self) -> int:
        return self.skipped.total

    def to_dict(self) -> dict:
        return {
            "lines_read": self.lines_read,
            "lines_written": self.lines_written,
            "lines_skipped": self.lines_skipped,
            "skipped": self.skipped.to_dict(SKIP_REASONS),
            "normalised": {"crlf_line_endings": self.crlf_line_endings,
                           "bom_removed": self.bom_removed},
            "examples": self.examples,
            "tokens": self.tokens,
            "labelled_tokens": self.labelled_tokens,
            "windows_cut": self.window.windows_cut,
            "turns_over_max_seq_len": self.window.long_turns,
            "all_zero_windows_dropped": self.window.all_zero_windows,
        }

    def format(self) -> str:
        lines = [f"lines read     {self.lines_read}",
                 f"lines written  {self.lines_written}  ({self.examples} examples, "
                 f"{self.tokens} tokens, {self.labelled_tokens} labelled)",
                 f"lines skipped  {self.lines_skipped}",
                 *format_skips(self.skipped.to_dict(SKIP_REASONS))]
        lines.append(f"windows cut {self.window.windows_cut}, turns over max_seq_len "
                     f"{self.window.long_turns}, all-zero windows dropped "
                     f"{self.window.all_zero_windows}")
        if self.crlf_line_endings or self.bom_removed:
            lines.append(f"normalised: {self.crlf_line_endings} CRLF line endings, "
                         f"{self.bom_removed} byte-order marks removed")
        return "\n".join(lines)


def chunked_lines(handle: BinaryIO, chunk_lines: int) -> Iterator[tuple[int, list]]:
    """``(first line number, raw lines)`` chunks; line numbers start at 1."""
    from dialogpt.data.lines import read_raw_lines

    chunk: list = []
    first = 1
    for raw in read_raw_lines(handle):
        chunk.append(raw)
        if len(chunk) == chunk_lines:
            yield first, chunk
            first += len(chunk)
            chunk = []
    if chunk:
        yield first, chunk


def process_in_order(chunks: Iterator[tuple[int, list]], encoder, config, workers: int,
                     stage=None):
    """Chunk results in corpus order; at most ``2 * workers`` chunks are in flight (bounded
    memory, unlike ``Pool.imap`` which reads its whole input ahead).

    ``stage``: the module with ``process_chunk``, ``init_worker`` and ``process_chunk_in_worker``
    (default :mod:`dialogpt.data.pipeline`, the TSV rules; :mod:`dialogpt.data.seq2seq` for
    GODEL records)."""
    from dialogpt.data import pipeline

    pipeline = stage or pipeline
    if workers <= 1:
        if hasattr(pipeline, "process_chunks"):  # tokenises in a helper thread
            yield from pipeline.process_chunks(chunks, encoder, config)
            return
        for first, lines in chunks:
            yield pipeline.process_chunk(first, lines, encoder, config)
        return
    import multiprocessing

    context = multiprocessing.get_context(_start_method(encoder))
    pool = context.Pool(workers, initializer=pipeline.init_worker, initargs=(encoder, config))
    try:
        in_flight: deque = deque()
        for first, lines in chunks:
            in_flight.append(pool.apply_async(pipeline.process_chunk_in_worker, (first, lines)))
            if len(in_flight) >= 2 * workers:
                yield in_flight.popleft().get()
        while in_flight:
            yield in_flight.popleft().get()
        pool.close()  # workers finish and exit on their own, and are reaped here ...
        pool.join()
    finally:
        pool.terminate()  # ... or are stopped (an error, or the consumer stopped early)
        pool.join()


def _start_method(encoder) -> str:
    """``fork`` for the tiktoken GPT-2 encoder (the parent has loaded no threaded library: no
    torch, no Rust ``tokenizers`` pool), so workers start in milliseconds with the encoder
    already built and no ``multiprocessing`` resource-tracker process is started (it outlived
    prepro as an orphan); ``spawn`` otherwise."""
    import multiprocessing

    from dialogpt.data.encoding import Gpt2TiktokenEncoder

    if isinstance(encoder, Gpt2TiktokenEncoder) and \
            "fork" in multiprocessing.get_all_start_methods() and \
            not {"torch", "tokenizers"} & set(sys.modules):
        return "fork"
    return "spawn"


def _build_key(args, corpus: Path, fingerprint: str, eos_id: int) -> dict:
    from dialogpt.data.db import FORMAT_VERSION
    from dialogpt.fileio import sha256_file

    return {"format_version": FORMAT_VERSION, "corpus_sha256": sha256_file(corpus),
            "corpus_bytes": corpus.stat().st_size, "max_seq_len": args.max_seq_len,
            "reverse": args.reverse, "two_turn": args.two_turn,
            "tokenizer_fingerprint": fingerprint, "eos_id": eos_id}


def _check_existing(db_path: Path, build_key: dict) -> None:
    """Return if the DB at ``db_path`` is complete and built from the same inputs, else raise."""
    from dialogpt.data.db import TokenDB

    db = TokenDB(db_path)
    built = db.manifest.get("build", {})
    different = sorted(key for key in build_key if built.get(key) != build_key[key])
    if different:
        raise UserError(f"{db_path} exists but was built with a different "
                        f"{', '.join(different)}; pass --force to rebuild it (or --output DIR)")


def _check_args(args, corpus: Path) -> None:
    if not corpus.is_file():
        raise UserError(f"corpus {corpus} does not exist")
    if args.max_seq_len < 2:
        raise UserError(f"--max_seq_len must be >= 2, got {args.max_seq_len}")
    if args.chunk_lines < 1 or not 1 <= args.shard_tokens <= 1 << 31:
        raise UserError("--chunk_lines must be >= 1 and --shard_tokens in [1, 2**31]")


def _write_shards(directory: Path, corpus: Path, encoder, config, args):
    """Stream the corpus through the workers into shards under ``directory``.

    Returns the (unfinished) ``ShardWriter`` and the :class:`PreproSummary`."""
    from dialogpt.data.db import ShardWriter

    summary = PreproSummary()
    writer = ShardWriter(directory, config.token_dtype, config.length_dtype, args.shard_tokens)
    from tqdm import tqdm

    with open(corpus, "rb") as handle, tqdm(total=corpus.stat().st_size, unit="B",
                                            unit_scale=True, desc="prepro", disable=None,
                                            leave=False) as bar:  # disable=None: off without a tty
        for result in process_in_order(chunked_lines(handle, args.chunk_lines), encoder, config,
                                       args.workers):
            bar.update(handle.tell() - bar.n)  # bytes read so far (a few chunks ahead with workers)
            malformed = [skip for skip in result.skips if skip[1] in MALFORMED_REASONS]
            if args.strict and malformed:
                line, reason, detail = malformed[0]
                raise UserError(f"{corpus}:{line}: {SKIP_REASONS[reason]}"
                                f"{f' ({detail})' if detail else ''}; fix the line, or run "
                                "without --strict to skip such lines and count them")
            writer.add(result.encoded)
            summary.add(result)
    return writer, summary


def _encoder_for(tokenizer_name: str | None):
    """``(encoder, tokenizer fingerprint)``. The default GPT-2 BPE goes straight to ``tiktoken``
    (no ``transformers`` import: start-up ~0.2 s instead of ~3 s); any other tokenizer is loaded
    with ``load_tokenizer``."""
    from dialogpt.tokenization import (DEFAULT_TOKENIZER, GPT2_FINGERPRINT, load_tokenizer,
                                       tokenizer_fingerprint)

    if (tokenizer_name or DEFAULT_TOKENIZER) == DEFAULT_TOKENIZER:
        from dialogpt.data.encoding import fast_gpt2_encoder

        encoder = fast_gpt2_encoder()
        if encoder is not None:
            return encoder, GPT2_FINGERPRINT
    from dialogpt.data.encoding import TurnEncoder

    tokenizer = load_tokenizer(tokenizer_name)
    return TurnEncoder(tokenizer), tokenizer_fingerprint(tokenizer)


def build_db(args, write_shards=None) -> int:
    """``write_shards``: instead of the local writer (``prepro_cluster.ray_shard_writer``)."""
    from dialogpt.data.db import SUMMARY, length_dtype_for, token_dtype_for
    from dialogpt.data.pipeline import FeatureConfig
    from dialogpt.fileio import atomic_dir, atomic_write

    corpus = Path(args.corpus)
    _check_args(args, corpus)
    db_path = Path(args.output) if args.output else db_path_for(
        corpus, args.max_seq_len, args.reverse, args.two_turn)
    encoder, fingerprint = _encoder_for(args.tokenizer)
    build_key = _build_key(args, corpus, fingerprint, encoder.eos_id)
    if db_path.exists() and not args.force:
        _check_existing(db_path, build_key)
        print(f"{db_path} is up to date (same corpus and arguments); --force rebuilds it")
        return 0
    if build_key["corpus_bytes"] == 0:
        raise UserError(f"corpus {corpus} is empty (0 bytes): nothing to preprocess")

    config = FeatureConfig(args.max_seq_len, args.reverse, args.two_turn,
                           token_dtype_for(encoder.vocab_size), length_dtype_for(args.max_seq_len))
    started = time.perf_counter()
    with atomic_dir(db_path, overwrite=True) as tmp:
        writer, summary = (write_shards(tmp, corpus, encoder, config, args.workers, args.strict,
                                        args.chunk_lines, args.shard_tokens) if write_shards
                           else _write_shards(tmp, corpus, encoder, config, args))
        seconds = time.perf_counter() - started
        if summary.examples == 0:
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
            "tokenizer": args.tokenizer, "tokenizer_fingerprint": fingerprint,
            "vocab_size": encoder.vocab_size, "eos_id": encoder.eos_id,
            "max_seq_len": args.max_seq_len, "reverse": args.reverse, "two_turn": args.two_turn,
            "n_labelled_tokens": summary.labelled_tokens, "build": build_key,
        })
    print(f"prepro: {corpus} -> {db_path}\n{summary.format()}\n"
          f"{seconds:.1f} s, {report['lines_per_second']:.0f} lines/s")
    return 0


def inspect_db(path: str, limit: int | None, tokenizer: str | None = None) -> int:
    from dialogpt.data.db import TokenDB

    db = TokenDB(path)
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
    args = build_parser().parse_args(argv)
    setup_logging()
    from dialogpt.data import prepro_seq2seq as records

    if args.inspect:
        if Path(args.inspect).is_file():
            if not records.is_records_file(args.inspect, args.format):
                raise UserError(f"--inspect {args.inspect}: a file must be GODEL JSON lines "
                                "(.jsonl, or --format jsonl); otherwise pass a DB directory")
            return records.inspect_records(args.inspect, args.limit, **_record_options(args))
        return inspect_db(args.inspect, args.limit, args.tokenizer)
    from dialogpt.cli import check_paths, check_writable
    from dialogpt.locking import hold_run_lock

    write_shards = None
    if args.executor == "ray":  # fails at once without Ray
        from dialogpt.data.prepro_cluster import RayOptions, ray_shard_writer

        write_shards = ray_shard_writer(RayOptions(args.ray_address, args.max_retries,
                                                   args.range_bytes))
    is_records = records.is_records_file(args.corpus, args.format)
    if is_records:
        db_path = Path(args.output) if args.output else records.db_path_for_records(
            args.corpus, args.max_source_len, args.max_target_len, args.template)
    else:
        args.tokenizer = args.tokenizer or "gpt2-bpe"
        db_path = Path(args.output) if args.output else db_path_for(
            Path(args.corpus), args.max_seq_len, args.reverse, args.two_turn)
    check_paths(input_files={"--corpus": args.corpus}, output_dirs={"--output": db_path})
    check_writable("--output", db_path, db_path.parent)  # its lock and temporaries go there
    with hold_run_lock(db_path, flag="--output", inside=False):  # one run per DB
        if is_records:
            _check_args(args, Path(args.corpus))
            return records.build_seq2seq_db(
                args.corpus, db_path, workers=args.workers, strict=args.strict, force=args.force,
                chunk_lines=args.chunk_lines, shard_tokens=args.shard_tokens,
                write_shards=write_shards, **_record_options(args))
        return build_db(args, write_shards)


def _record_options(args) -> dict:
    """The flags of the GODEL-record path, as keyword arguments."""
    return {"tokenizer_name": args.tokenizer, "template": args.template,
            "instruction": args.instruction, "max_source_len": args.max_source_len,
            "max_target_len": args.max_target_len, "knowledge_budget": args.knowledge_budget}


if __name__ == "__main__":
    raise SystemExit(run_main(main))
