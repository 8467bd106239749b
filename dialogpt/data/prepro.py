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

from dialogpt.cli import UserError, add_bool_flag, make_parser, run_main, setup_logging
from dialogpt.data.prepro_causal import db_path_for


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
    from dialogpt.data.prepro_build import build_db
    from dialogpt.data.prepro_causal import causal_plan
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
        plan = functools.partial(records.seq2seq_plan, **_record_options(args))
    else:
        db_path = Path(args.output) if args.output else db_path_for(
            Path(args.corpus), args.max_seq_len, args.reverse, args.two_turn)
        plan = functools.partial(causal_plan, tokenizer=args.tokenizer,
                                 max_seq_len=args.max_seq_len, reverse=args.reverse,
                                 two_turn=args.two_turn)
    check_paths(input_files={"--corpus": args.corpus}, output_dirs={"--output": db_path})
    check_writable("--output", db_path, db_path.parent)  # its lock and temporaries go there
    with hold_run_lock(db_path, flag="--output", inside=False):  # one run per DB
        _check_args(args)
        return build_db(args.corpus, db_path, plan, workers=args.workers, strict=args.strict,
                        force=args.force, chunk_lines=args.chunk_lines,
                        shard_tokens=args.shard_tokens, write_shards=write_shards)


def _check_args(args) -> None:
    if args.max_seq_len < 2:
        raise UserError(f"--max_seq_len must be >= 2, got {args.max_seq_len}")
    if args.chunk_lines < 1 or not 1 <= args.shard_tokens <= 1 << 31:
        raise UserError("--chunk_lines must be >= 1 and --shard_tokens in [1, 2**31]")


def _record_options(args) -> dict:
    """The flags of the GODEL-record path, as keyword arguments."""
    return {"tokenizer_name": args.tokenizer, "template": args.template,
            "instruction": args.instruction, "max_source_len": args.max_source_len,
            "max_target_len": args.max_target_len, "knowledge_budget": args.knowledge_budget}


if __name__ == "__main__":
    raise SystemExit(run_main(main))
