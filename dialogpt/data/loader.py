"""Training and evaluation loaders (the original's ``data_loader.py``, minus its bugs).

Every loader yields dicts of torch ``LongTensor`` s, all ``[B, T]``:

* ``input_ids``: padded with ``pad_id`` at the end;
* ``attention_mask``: 1 on real tokens, 0 on padding;
* ``position_ids``: 0..L-1 over each example (0 on padding);
* ``labels``: pre-shifted, ``labels[t]`` is the token after ``input_ids[t]``; -1 where not
  predicted and on padding (use ``ignore_index=-1``, or ``labels.masked_fill(labels < 0, -100)``).

Over a ``seq2seq`` DB (GODEL) the same loaders yield ``input_ids``/``attention_mask`` ``[B, S]``
(the encoder sources, right-padded with the tokenizer's pad id) and ``labels`` ``[B, T]`` (the
targets, ending in EOS, -1 on padding); no ``position_ids``. There ``max_seq_len`` limits the
source length (default: the DB's ``max_source_len``, so none is left out) and buckets are formed
by source + target length. :class:`GroundedEvalLoader` is the evaluation loader over GODEL JSONL.

:class:`BucketingDataLoader` reads a token DB (built by ``prepro.py``); its batch order is a pure
function of ``(seed, epoch, rank, world_size)`` and its position can be saved and restored
mid-epoch (:meth:`~BucketingDataLoader.state_dict`). :class:`DynamicBatchingLoader` evaluates over
a TSV file in file order.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

from dialogpt.cli import UserError
from dialogpt.data import sampling
from dialogpt.data.db import TokenDB
from dialogpt.data.db_open import open_db
from dialogpt.data.encoding import TurnEncoder
from dialogpt.data.features import BadLine, build_eval_feature, parse_line
from dialogpt.data.lines import decode_line, read_raw_lines

if TYPE_CHECKING:
    import numpy as np
    import torch

logger = logging.getLogger(__name__)

STATE_VERSION = 1
_STATE_MUST_MATCH = ("batch_size", "bucket_size", "shuffle", "seed", "world_size", "drop_last",
                     "n_examples", "max_seq_len")


def _to_torch(arrays: dict[str, "np.ndarray"]) -> dict[str, "torch.Tensor"]:
    import torch

    return {name: torch.from_numpy(array) for name, array in arrays.items()}


class BucketingDataLoader:
    """Length-bucketed, shuffled batches from a token DB, sharded by example across ranks.

    ``db_or_path``: a :class:`TokenDB` (causal or seq2seq) or its directory. ``batch_size``:
    examples per batch on this rank. ``max_seq_len``: examples longer than this are left out (default: the DB's
    ``max_seq_len``, so none). ``bucket_size``: batches per length bucket (the original's
    ``bucket``). Every rank gets ``ceil(n / world_size)`` examples per epoch (the order wraps
    around to fill the last ranks) and therefore the same ``len(loader)`` batches.

    Iterating runs the rest of the current epoch and then moves to the next one, so
    ``for batch in loader`` twice gives two different epochs. ``set_epoch(e)`` jumps to the start
    of epoch ``e``. ``state_dict()`` records the epoch and the batches already handed out;
    ``load_state_dict`` on a fresh loader continues with exactly the next batch.
    """

    def __init__(self, db_or_path: TokenDB | str | os.PathLike, batch_size: int,
                 max_seq_len: int | None = None, shuffle: bool = True, seed: int = 42,
                 bucket_size: int = 100, rank: int = 0, world_size: int = 1,
                 pad_id: int | None = None, drop_last: bool = False,
                 pad_to_multiple_of: int = 1):
        import numpy as np

        if batch_size < 1 or bucket_size < 1 or pad_to_multiple_of < 1:
            raise ValueError("batch_size, bucket_size and pad_to_multiple_of must be >= 1")
        if world_size < 1 or not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is not in [0, world_size={world_size})")
        if seed < 0:
            raise ValueError(f"seed must be >= 0, got {seed}")
        self.db = db_or_path if isinstance(db_or_path, TokenDB) else open_db(db_or_path)
        self.batch_size = batch_size
        self.max_seq_len = int(max_seq_len or self.db.max_seq_len)
        self.shuffle = shuffle
        self.seed = seed
        self.bucket_size = bucket_size
        self.rank = rank
        self.world_size = world_size
        # the DB's own pad id for seq2seq (the tokenizer's), 0 for causal DBs (masked anyway)
        self.pad_id = getattr(self.db, "pad_id", 0) if pad_id is None else pad_id
        self.drop_last = drop_last
        self.pad_to_multiple_of = pad_to_multiple_of
        lengths = np.asarray(self.db.lengths)
        self.example_ids = np.nonzero(lengths <= self.max_seq_len)[0]
        self._example_lengths = np.asarray(self.db.bucket_lengths)[self.example_ids]
        self.n_left_out = len(lengths) - len(self.example_ids)
        if self.n_left_out:
            logger.warning("%d of %d examples are longer than max_seq_len=%d and are left out",
                           self.n_left_out, len(lengths), self.max_seq_len)
        if len(self.example_ids) == 0:
            raise UserError(f"every example of {self.db.path} is longer than max_seq_len="
                            f"{self.max_seq_len} (the shortest has {int(lengths.min())} tokens): "
                            f"raise --max_seq_length to {int(lengths.min())} or more, or rebuild "
                            f"the DB with prepro.py --max_seq_len {self.max_seq_len}")
        self.epoch = 0
        self.batches_consumed = 0
        self._plan: tuple[int, list] | None = None

    def __len__(self) -> int:
        return sampling.batches_per_epoch(len(self.example_ids), self.batch_size,
                                          self.bucket_size, self.world_size, self.drop_last)

    def set_epoch(self, epoch: int) -> None:
        """Start epoch ``epoch`` from its first batch at the next iteration."""
        self.epoch = int(epoch)
        self.batches_consumed = 0

    def batch_plan(self, epoch: int | None = None) -> list["np.ndarray"]:
        """The DB example ids of every batch of ``epoch`` (default: the current one) on this rank."""
        epoch = self.epoch if epoch is None else epoch
        if self._plan is None or self._plan[0] != epoch:
            self._plan = (epoch, sampling.plan_epoch(
                self.example_ids, self._example_lengths, self.batch_size, self.bucket_size,
                self.shuffle, self.seed, epoch, self.rank, self.world_size, self.drop_last))
        return self._plan[1]

    def collate(self, example_ids) -> dict[str, "torch.Tensor"]:
        """The padded batch of the given DB example ids."""
        return _to_torch(self.db.batch(example_ids, self.pad_id, self.pad_to_multiple_of))

    def __iter__(self) -> Iterator[dict[str, "torch.Tensor"]]:
        if self.batches_consumed >= len(self):
            self.set_epoch(self.epoch + 1)
        plan = self.batch_plan()
        while self.batches_consumed < len(plan):
            batch = plan[self.batches_consumed]
            self.batches_consumed += 1
            yield self.collate(batch)
        self.set_epoch(self.epoch + 1)

    def state_dict(self) -> dict:
        """JSON-serialisable position: the epoch and how many of its batches were handed out."""
        return {
            "version": STATE_VERSION,
            "epoch": self.epoch,
            "batches_consumed": self.batches_consumed,
            "seed": self.seed,
            "batch_size": self.batch_size,
            "bucket_size": self.bucket_size,
            "shuffle": self.shuffle,
            "drop_last": self.drop_last,
            "rank": self.rank,
            "world_size": self.world_size,
            "n_examples": int(len(self.example_ids)),
            "max_seq_len": self.max_seq_len,
            "tokenizer_fingerprint": self.db.manifest.get("tokenizer_fingerprint"),
        }

    def load_state_dict(self, state: dict) -> None:
        """Continue from ``state``; raises ``ValueError`` if it comes from a different setup."""
        mine = self.state_dict()
        different = [key for key in (*_STATE_MUST_MATCH, "tokenizer_fingerprint")
                     if key in state and state[key] != mine[key]]
        if state.get("version") != STATE_VERSION or different:
            raise ValueError("the loader state does not match this loader (differs in: "
                             f"{', '.join(different) or 'version'}); exact resume needs the same "
                             "DB, batch size, seed, bucket size and world size")
        self.epoch = int(state["epoch"])
        self.batches_consumed = int(state["batches_consumed"])


class DistributedBucketingDataLoader(BucketingDataLoader):
    """:class:`BucketingDataLoader` with ``rank`` and ``world_size`` required (keyword-only)."""

    def __init__(self, db_or_path: TokenDB | str | os.PathLike, batch_size: int,
                 max_seq_len: int | None = None, *, rank: int, world_size: int, **kwargs):
        super().__init__(db_or_path, batch_size, max_seq_len, rank=rank, world_size=world_size,
                         **kwargs)


class DynamicBatchingLoader:
    """Evaluation batches over a TSV file, in file order, the last partial batch kept.

    Lines are parsed like prepro (weights and `` EOS `` turn separators understood, whitespace
    normalised; the original fed them to the model as text). As in the original, only the
    response is predicted (its tokens and the closing EOS) and a line may carry several
    TAB-separated responses, each an example. Lines that cannot be parsed, or whose response has
    weight 0, are skipped and counted in ``skipped`` (reason -> count). Each ``iter()`` starts
    again from the top of the file.

    ``reverse`` (the backward model of MMI, trained on ``prepro.py --reverse`` data): each example's
    turns are reversed like that DB's, so the oldest turn is predicted from the response and the
    later turns (newest first); weights do not skip anything then.
    """

    def __init__(self, tsv_path: str | os.PathLike, tokenizer, batch_size: int,
                 max_seq_len: int, pad_id: int = 0, reverse: bool = False):
        self.reverse = reverse
        if batch_size < 1 or max_seq_len < 3:
            raise ValueError("batch_size must be >= 1 and max_seq_len >= 3")
        self.path = Path(tsv_path)
        if not self.path.is_file():
            raise UserError(f"evaluation file {self.path} does not exist")
        self.encoder = tokenizer if isinstance(tokenizer, TurnEncoder) else TurnEncoder(tokenizer)
        self.batch_size = batch_size
        self.max_seq_len = max_seq_len
        self.pad_id = pad_id
        self.skipped: Counter[str] = Counter()
        self._n_examples: int | None = None

    def _examples(self) -> Iterator[tuple[list[str], str]]:
        """(context turn texts, response text) for every usable response, in file order."""
        skipped: Counter[str] = Counter()
        first_lines: dict[str, int] = {}
        number = 0
        with open(self.path, "rb") as handle:
            for number, raw in enumerate(read_raw_lines(handle), 1):
                try:
                    parsed = parse_line(decode_line(raw).text, allow_multiple_responses=True)
                except BadLine as exc:
                    skipped[exc.reason] += 1
                    first_lines.setdefault(exc.reason, number)
                    continue
                context = [text for _, text in parsed.context]
                for weight, response in parsed.responses:
                    if self.reverse:
                        turns = [response, *reversed(context)]
                        yield turns[:-1], turns[-1]
                        continue
                    if weight == 0:
                        skipped["zero_weight_response"] += 1
                        continue
                    yield context, response
        self.skipped = skipped
        self.lines_read, self.first_skipped = number, first_lines

    def describe(self) -> str:
        """"eval: N examples from M lines, K skipped (reasons, first line of each)", after one
        pass over the file; ``UserError`` when no line gives an example (loss would be NaN)."""
        examples = sum(1 for _ in self._examples())
        self._n_examples = examples
        reasons = ", ".join(f"{reason} {count} (first: line {self.first_skipped.get(reason, '-')})"
                            for reason, count in sorted(self.skipped.items()))
        text = (f"eval: {examples} examples from {self.lines_read} lines of {self.path}, "
                f"{sum(self.skipped.values())} skipped" + (f": {reasons}" if reasons else ""))
        if examples == 0:
            raise UserError(f"{text}. No usable evaluation line: fix --eval_input_file (TSV "
                            "context<TAB>response, UTF-8) or leave it out")
        return text

    def __len__(self) -> int:
        if self._n_examples is None:
            self._n_examples = sum(1 for _ in self._examples())
        return -(-self._n_examples // self.batch_size)

    def __iter__(self) -> Iterator[dict[str, "torch.Tensor"]]:
        pending: list[tuple[list[str], str]] = []
        for example in self._examples():
            pending.append(example)
            if len(pending) == self.batch_size:
                yield self._batch(pending)
                pending = []
        if pending:
            yield self._batch(pending)

    def _batch(self, examples: list[tuple[list[str], str]]) -> dict[str, "torch.Tensor"]:
        import numpy as np

        texts = [text for context, response in examples for text in (*context, response)]
        ids = iter(self.encoder.encode_batch(texts))
        features = []
        for context, _ in examples:
            context_ids = [next(ids) for _ in context]
            features.append(build_eval_feature(context_ids, next(ids), self.encoder.eos_id,
                                               self.max_seq_len))
        width = max(len(feature.input_ids) for feature in features)
        arrays = {name: np.zeros((len(features), width), dtype=np.int64)
                  for name in ("input_ids", "attention_mask", "position_ids", "labels")}
        arrays["input_ids"].fill(self.pad_id)
        arrays["labels"].fill(-1)
        for row, feature in enumerate(features):
            length = len(feature.input_ids)
            arrays["input_ids"][row, :length] = feature.input_ids
            arrays["attention_mask"][row, :length] = 1
            arrays["position_ids"][row, :length] = np.arange(length)
            arrays["labels"][row, :length] = feature.labels(self.encoder.eos_id)
        return _to_torch(arrays)


class GroundedEvalLoader:
    """Evaluation batches over a GODEL JSONL file, in file order, the last partial batch kept.

    Records are read, templated, fitted and encoded exactly as ``prepro.py`` builds a seq2seq DB
    (:mod:`dialogpt.data.seq2seq`); batches are dicts of ``input_ids``/``attention_mask``
    ``[B, S]`` and ``labels`` ``[B, T]`` (-1 on padding). Bad lines are skipped and counted in
    ``skipped`` (reason -> count, as prepro names them), cuts in ``cuts``; each ``iter()`` starts
    again from the top of the file. :meth:`for_db` takes template, instruction and limits from the
    manifest of the training DB, so evaluation sees what training saw.
    """

    def __init__(self, path: str | os.PathLike, tokenizer, batch_size: int,
                 max_source_len: int = 512, max_target_len: int = 128, template: str = "card",
                 instruction: str = "", knowledge_budget: int | None = None,
                 pad_id: int | None = None):
        from dialogpt.data.seq2seq import CutStats, Seq2SeqConfig, SourceEncoder
        from dialogpt.grounding import check_template

        if batch_size < 1 or max_source_len < 2 or max_target_len < 2:
            raise ValueError("batch_size must be >= 1, max_source_len and max_target_len >= 2")
        self.path = Path(path)
        if not self.path.is_file():
            raise UserError(f"evaluation file {self.path} does not exist")
        self.encoder = (tokenizer if isinstance(tokenizer, SourceEncoder)
                        else SourceEncoder(tokenizer))
        self.config = Seq2SeqConfig(check_template(template), instruction, max_source_len,
                                    max_target_len, knowledge_budget)
        self.batch_size = batch_size
        self.pad_id = self.encoder.pad_id if pad_id is None else pad_id
        self.skipped: Counter[str] = Counter()
        self.cuts = CutStats()
        self._n_records: int | None = None

    @classmethod
    def for_db(cls, path: str | os.PathLike, tokenizer, batch_size: int,
               db: TokenDB) -> "GroundedEvalLoader":
        """An evaluation loader with the template, instruction and limits of seq2seq ``db``."""
        if db.kind != "seq2seq":
            raise UserError(f"{db.path} is a {db.kind} DB: GODEL JSONL evaluation needs a "
                            "seq2seq DB (prepro.py --corpus X.jsonl) and a seq2seq model")
        manifest = db.manifest
        return cls(path, tokenizer, batch_size, int(manifest["max_source_len"]),
                   int(manifest["max_target_len"]), manifest["template"],
                   manifest.get("instruction", ""), manifest.get("knowledge_budget"),
                   pad_id=manifest.get("pad_id"))

    def _records(self, skipped: Counter):
        """``(line number, record)`` of every usable line, in file order (skips counted)."""
        from dialogpt.data.seq2seq import read_records

        with open(self.path, "rb") as handle:
            for number, raw in enumerate(read_raw_lines(handle), start=1):
                numbered, skips, _, _ = read_records(number, [raw], self.config.instruction)
                skipped.update(reason for _, reason, _ in skips)
                yield from numbered

    def __len__(self) -> int:
        if self._n_records is None:
            self._n_records = sum(1 for _ in self._records(Counter()))
        return -(-self._n_records // self.batch_size)

    def __iter__(self) -> Iterator[dict[str, "torch.Tensor"]]:
        from dialogpt.data.seq2seq import CutStats

        self.cuts = CutStats()
        self.skipped = Counter()
        pending: list = []
        for numbered in self._records(self.skipped):
            pending.append(numbered)
            if len(pending) == self.batch_size:
                batch = self._batch(pending)
                if batch is not None:
                    yield batch
                pending = []
        if pending:
            batch = self._batch(pending)
            if batch is not None:
                yield batch

    def _batch(self, numbered: list) -> dict[str, "torch.Tensor"] | None:
        import numpy as np

        from dialogpt.data.seq2seq import encode_records

        examples, too_long = encode_records(numbered, self.encoder, self.config)
        self.skipped.update(reason for _, reason, _ in too_long)
        if not examples:
            return None
        for example in examples:
            self.cuts.add_fit(example.fit)
            self.cuts.target_cut += example.target_cut
        width = max(len(e.source_ids) for e in examples)
        target_width = max(len(e.target_ids) for e in examples)
        input_ids = np.full((len(examples), width), self.pad_id, dtype=np.int64)
        attention_mask = np.zeros((len(examples), width), dtype=np.int64)
        labels = np.full((len(examples), target_width), -1, dtype=np.int64)
        for row, example in enumerate(examples):
            input_ids[row, :len(example.source_ids)] = example.source_ids
            attention_mask[row, :len(example.source_ids)] = 1
            labels[row, :len(example.target_ids)] = example.target_ids
        return _to_torch({"input_ids": input_ids, "attention_mask": attention_mask,
                          "labels": labels})
