"""``PreproConfig``: everything ``prepro.py`` is told, one field per flag.

``prepro.py``'s parser (and ``--help``) is generated from these fields by
:func:`dialogpt.config.build_parser`; :meth:`PreproConfig.validate` holds every check that needs
no files. The library functions it drives take plain keyword arguments
(:meth:`PreproConfig.build_options`, :meth:`PreproConfig.record_options`, ...).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from dialogpt.cli import UserError
from dialogpt.config import flag
from dialogpt.data.prepro_cluster import DEFAULT_RANGE_BYTES, RayOptions
from dialogpt.data.prepro_seq2seq import (DEFAULT_MAX_TARGET_LEN, check_record_limits,
                                          is_records_file)
from dialogpt.grounding import DEFAULT_MAX_SOURCE_LEN

_RECORDS = "GODEL records (JSONL -> seq2seq DB; see README 'GODEL')"
_EXECUTOR = "executor (the corpus and the output must be on storage every node sees for ray)"
_MODE = "build or inspect"
MAX_SHARD_TOKENS = 1 << 31


def default_workers() -> int:
    """Tokenisation processes by default: the CPU count, at most 4."""
    return max(1, min(4, os.cpu_count() or 1))


def _ray_address() -> str | None:
    return os.environ.get("RAY_ADDRESS")


@dataclass
class PreproConfig:
    """A ``prepro.py`` run: build a DB from ``corpus``, or print the examples of ``inspect``."""

    corpus: str | None = flag(
        None, "TSV corpus: CONTEXT<TAB>RESPONSE per line, context turns joined by ' EOS ', each "
        "turn optionally prefixed by a weight (0.0/1.0); or GODEL JSON lines (.jsonl: {Context, "
        "Knowledge, Response[, Instruction]}) -> a seq2seq DB. TSV -> JSONL: python -m "
        "dialogpt.data.convert_tsv", one_of=_MODE)
    inspect: str | None = flag(
        None, "print the examples of a DB as JSON lines ({id, input_ids, lm_labels, weights}; "
        "seq2seq: {id, source, input_ids, labels, target}) instead of building one; a .jsonl "
        "file: each record as it would be encoded (exact source string, ids, cuts)",
        metavar="DB|JSONL", one_of=_MODE)
    format: str = flag("auto", "corpus format; auto: jsonl for a .jsonl/.json name, else tsv",
                       choices=("auto", "tsv", "jsonl"))
    max_seq_len: int = flag(128, "longest example in tokens; longer conversations are windowed",
                            kind=int)
    tokenizer: str | None = flag(
        None, "tokenizer directory or Hugging Face id (a T5 tokenizer for JSONL); default: "
        "'gpt2-bpe' (the offline real GPT-2 BPE) for TSV, microsoft/GODEL-v1_1-base-seq2seq for "
        "JSONL")
    reverse: bool = flag(False, "reverse the turn order (data for the backward model used by MMI "
                         "reranking); adds '.reverse' to the DB name", kind=bool)
    two_turn: bool = flag(False, "keep only the first two turns; adds '.2turn'", kind=bool)
    workers: int = flag(help="tokenisation processes (1 = in this process)", kind=int,
                        default_factory=default_workers)
    strict: bool = flag(False, "stop with an error at the first malformed line instead of "
                        "skipping and counting it", kind=bool)
    force: bool = flag(False, "rebuild the DB even if it exists", kind=bool)
    output: str | None = flag(None, "DB directory (default: the corpus path without .tsv + "
                              ".{max_seq_len}len[.reverse][.2turn].db)")
    limit: int | None = flag(None, "with --inspect: print at most this many examples", kind=int)
    chunk_lines: int = flag(2000, "lines per work unit sent to a worker", kind=int)
    shard_tokens: int = flag(1 << 27, "start a new shard after about this many tokens", kind=int)

    template: str = flag(
        "card", "source template: card = v1.1 model cards ('{instruction} [CONTEXT] turns "
        "[KNOWLEDGE] knowledge'), repo = GODEL repository scripts ('context <|Knowledge|> "
        "knowledge => ')", _RECORDS, choices=("card", "repo"))
    instruction: str = flag(
        "", "instruction of records without their own 'Instruction' (card template only), e.g. "
        "the card's 'Instruction: given a dialog context and related knowledge, you need to "
        "response safely based on the knowledge.'", _RECORDS)
    max_source_len: int = flag(
        DEFAULT_MAX_SOURCE_LEN, "longest encoder source in tokens (EOS included); longer sources "
        "lose their oldest turns, then knowledge beyond its budget, counted. 512 = GODEL's README "
        "commands and T5's pre-training length (GODEL's own default 128 cuts most grounded "
        "sources)", _RECORDS, kind=int)
    max_target_len: int = flag(
        DEFAULT_MAX_TARGET_LEN, "longest target in tokens (EOS included), cut keeping the EOS and "
        "counted; 128 = the max_length of both decoding presets", _RECORDS, kind=int)
    knowledge_budget: int | None = flag(
        None, "knowledge tokens kept before older turns (default: half of --max_source_len)",
        _RECORDS, kind=int)

    executor: str = flag(
        "local", "local: --workers processes here; ray: byte ranges of the corpus as Ray tasks "
        "over a cluster (pip install -e \".[cluster]\"), same DB bytes", _EXECUTOR,
        choices=("local", "ray"))
    ray_address: str | None = flag(
        help="Ray cluster to join (HOST:PORT or 'auto'; default: $RAY_ADDRESS, else a local Ray "
        "instance is started)", group=_EXECUTOR, default_factory=_ray_address)
    max_retries: int = flag(3, "ray: retries of a task whose worker or node died", _EXECUTOR,
                            kind=int)
    range_bytes: int = flag(DEFAULT_RANGE_BYTES, "ray: corpus bytes per encode task (cut at "
                            "line ends)", _EXECUTOR, kind=int)

    @property
    def records(self) -> bool:
        """Whether the corpus (or the file to inspect) holds GODEL records."""
        return is_records_file(self.corpus or self.inspect, self.format)

    def validate(self) -> None:
        """Every check that needs no files: ``UserError`` naming the flag."""
        if (self.corpus is None) == (self.inspect is None):
            raise UserError("pass one of --corpus (build a DB) or --inspect (print one)")
        if self.corpus is not None:
            if self.max_seq_len < 2:
                raise UserError(f"--max_seq_len must be >= 2, got {self.max_seq_len}")
            if self.chunk_lines < 1 or not 1 <= self.shard_tokens <= MAX_SHARD_TOKENS:
                raise UserError("--chunk_lines must be >= 1 and --shard_tokens in [1, 2**31]")
            if self.executor == "ray":
                self.ray_options().validate()
        if self.records:
            check_record_limits(self.template, self.max_source_len, self.max_target_len,
                                self.knowledge_budget)

    def db_path(self) -> Path:
        """``--output``, else the DB's default name next to the corpus."""
        from dialogpt.data.prepro_causal import db_path_for
        from dialogpt.data.prepro_seq2seq import db_path_for_records

        if self.output:
            return Path(self.output)
        if self.records:
            return db_path_for_records(self.corpus, self.max_source_len, self.max_target_len,
                                       self.template)
        return db_path_for(self.corpus, self.max_seq_len, self.reverse, self.two_turn)

    def build_options(self) -> dict:
        """How the build runs, as keyword arguments of ``prepro_build.build_db``."""
        return {"workers": self.workers, "strict": self.strict, "force": self.force,
                "chunk_lines": self.chunk_lines, "shard_tokens": self.shard_tokens}

    def causal_options(self) -> dict:
        """The flags of the TSV path, as keyword arguments of ``prepro_causal.causal_plan``."""
        return {"tokenizer": self.tokenizer, "max_seq_len": self.max_seq_len,
                "reverse": self.reverse, "two_turn": self.two_turn}

    def record_options(self) -> dict:
        """The flags of the GODEL-record path, as keyword arguments (``seq2seq_plan``,
        ``inspect_records``)."""
        return {"tokenizer_name": self.tokenizer, "template": self.template,
                "instruction": self.instruction, "max_source_len": self.max_source_len,
                "max_target_len": self.max_target_len, "knowledge_budget": self.knowledge_budget}

    def ray_options(self) -> RayOptions:
        return RayOptions(self.ray_address, self.max_retries, self.range_bytes)
