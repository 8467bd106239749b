"""Reading a ``seq2seq`` token DB (GODEL): a source and a target per example.

Same directory layout, manifest and checksums as the causal DB (:mod:`dialogpt.data.db`); a shard
holds ``tokens``/``lengths`` (the encoder sources, special tokens included, e.g. T5's closing
``</s>``) and ``target_tokens``/``target_lengths`` (the responses, each ending in EOS). The
manifest adds ``template``, ``instruction``, ``max_source_len``, ``max_target_len``,
``knowledge_budget`` and ``pad_id`` to the tokenizer fields of a causal DB.
:func:`dialogpt.data.db_open.open_db` returns a :class:`Seq2SeqDB` for such a directory.
"""

from __future__ import annotations

import os
from bisect import bisect_right
from typing import TYPE_CHECKING, Sequence

from dialogpt.cli import UserError
from dialogpt.data.db import MANIFEST, TokenDB, shard_files_of

if TYPE_CHECKING:
    import numpy as np


class Seq2SeqDB(TokenDB):
    """A read-only seq2seq DB. ``db[i]`` -> ``(source_ids, target_ids)`` int64 arrays.

    ``lengths`` are the source lengths, ``target_lengths`` the target lengths (EOS included),
    ``bucket_lengths`` their sum; ``max_seq_len`` is ``max_source_len`` (what a length filter in
    generic code compares with ``lengths``). ``template`` and the limits come from the manifest.
    """

    kind = "seq2seq"

    def __init__(self, path: str | os.PathLike, verify: bool = True):
        import numpy as np

        from pathlib import Path

        from dialogpt.data.db import read_manifest

        self.path = Path(path)
        self.manifest = read_manifest(self.path)
        try:
            self.eos_id = int(self.manifest["eos_id"])
            self.pad_id = int(self.manifest["pad_id"])
            self.max_source_len = int(self.manifest["max_source_len"])
            self.max_target_len = int(self.manifest["max_target_len"])
            self.template = str(self.manifest["template"])
            dtypes = {"token": np.dtype(self.manifest["token_dtype"]),
                      "length": np.dtype(self.manifest["length_dtype"])}
            shards = self.manifest["shards"]
        except (KeyError, TypeError, ValueError) as exc:
            raise UserError(f"{self.path / MANIFEST} lacks a valid field: {exc}") from exc
        self.max_seq_len = self.max_source_len
        self._tokens: list["np.ndarray"] = []
        self._target_tokens: list["np.ndarray"] = []
        lengths, target_lengths, self._shard_starts = [], [], []
        first = 0
        for number, info in enumerate(shards):
            arrays = {kind: self._open_file(number, kind, dtypes[d], info, verify)
                      for kind, d in shard_files_of("seq2seq").items()}
            self._check_pair_shard(number, info, arrays)
            self._tokens.append(arrays["tokens"])
            self._target_tokens.append(arrays["target_tokens"])
            lengths.append(np.asarray(arrays["lengths"]))
            target_lengths.append(np.asarray(arrays["target_lengths"]))
            self._shard_starts.append(first)
            first += int(info["n_examples"])
        concat = (lambda parts: np.concatenate(parts) if parts
                  else np.zeros(0, dtype=dtypes["length"]))
        self.lengths: np.ndarray = concat(lengths)
        self.target_lengths: np.ndarray = concat(target_lengths)
        self._shard_index = np.repeat(np.arange(len(shards), dtype=np.int32),
                                      [len(part) for part in lengths])
        self._offsets = self._local_offsets(lengths)
        self._target_offsets = self._local_offsets(target_lengths)
        if len(self.lengths) != self.manifest.get("n_examples"):
            raise UserError(f"{self.path}: manifest says {self.manifest.get('n_examples')} "
                            f"examples, shards hold {len(self.lengths)}; rebuild the DB")

    @staticmethod
    def _local_offsets(per_shard_lengths: list["np.ndarray"]) -> "np.ndarray":
        """Each example's start within its shard (int64)."""
        import numpy as np

        parts = []
        for shard_lengths in per_shard_lengths:
            offsets = np.zeros(len(shard_lengths), dtype=np.int64)
            np.cumsum(shard_lengths[:-1], out=offsets[1:], dtype=np.int64)
            parts.append(offsets)
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)

    def _check_pair_shard(self, number: int, info: dict, arrays: dict) -> None:
        """Counts, length limits and the closing EOS of every target."""
        import numpy as np

        n = int(info["n_examples"])
        lengths = np.asarray(arrays["lengths"], dtype=np.int64)
        target_lengths = np.asarray(arrays["target_lengths"], dtype=np.int64)
        problem = None
        if len(lengths) != n or len(target_lengths) != n:
            problem = "example count"
        elif (int(lengths.sum()) != int(info["n_tokens"])
              or len(arrays["tokens"]) != int(lengths.sum())
              or len(arrays["target_tokens"]) != int(target_lengths.sum())
              or int(target_lengths.sum()) != int(info["n_target_tokens"])):
            problem = "token count"
        elif n and (int(lengths.max()) > self.max_source_len or int(lengths.min()) < 1
                    or int(target_lengths.max()) > self.max_target_len
                    or int(target_lengths.min()) < 1):
            problem = "lengths"
        elif n and bool(np.any(np.asarray(arrays["target_tokens"])[np.cumsum(target_lengths) - 1]
                               != self.eos_id)):
            problem = "a target that does not end in EOS"
        if problem:
            raise UserError(f"{self.path}: shard {number} is inconsistent with the manifest "
                            f"({problem}); rebuild with prepro.py --force")

    @property
    def bucket_lengths(self) -> "np.ndarray":
        """Source plus target length: what the bucketing loaders sort by."""
        import numpy as np

        return self.lengths.astype(np.int64) + self.target_lengths.astype(np.int64)

    def _slice(self, shards, offsets, lengths, index: int) -> "np.ndarray":
        import numpy as np

        tokens = shards[bisect_right(self._shard_starts, index) - 1]
        start = int(offsets[index])
        return np.asarray(tokens[start:start + int(lengths[index])], dtype=np.int64)

    def input_ids(self, index: int) -> "np.ndarray":
        """The source ids of example ``index``."""
        index = self._check_index(index)
        return self._slice(self._tokens, self._offsets, self.lengths, index)

    def target_ids(self, index: int) -> "np.ndarray":
        """The target ids of example ``index`` (ending in EOS)."""
        index = self._check_index(index)
        return self._slice(self._target_tokens, self._target_offsets, self.target_lengths, index)

    def __getitem__(self, index: int) -> tuple["np.ndarray", "np.ndarray"]:
        return self.input_ids(index), self.target_ids(index)

    def spans(self, index: int):
        raise TypeError("a seq2seq DB has no label spans: its targets are whole sequences")

    def token_weights(self, index: int):
        raise TypeError("a seq2seq DB has no token weights")

    def _gather(self, shards, offsets, lengths, idx, pad: int, pad_to_multiple_of: int):
        """``[B, W]`` ids (right-padded with ``pad``) and the mask of real positions."""
        import numpy as np

        lengths = lengths[idx].astype(np.int64)
        width = int(lengths.max()) if len(idx) else 0
        width = -(-width // pad_to_multiple_of) * pad_to_multiple_of
        positions = np.arange(width, dtype=np.int64)
        real = positions[None, :] < lengths[:, None]
        out = np.full((len(idx), width), pad, dtype=np.int64)
        shard_of = self._shard_index[idx]
        for shard_number in sorted(set(shard_of.tolist())):
            rows = np.nonzero(shard_of == shard_number)[0]
            tokens = shards[shard_number]
            source = offsets[idx[rows]][:, None] + positions[None, :]
            np.minimum(source, len(tokens) - 1, out=source)
            out[rows] = np.where(real[rows], tokens[source].astype(np.int64), pad)  # -1 stays -1
        return out, real

    def batch(self, indices: Sequence[int], pad_id: int | None = None,
              pad_to_multiple_of: int = 1) -> dict[str, "np.ndarray"]:
        """Padded int64 arrays: ``input_ids``/``attention_mask`` ``[B, S]`` (sources, right-padded
        with ``pad_id``, default the tokenizer's pad id from the manifest) and ``labels``
        ``[B, T]`` (targets ending in EOS, -1 on padding)."""
        import numpy as np

        idx = np.asarray(indices, dtype=np.int64)
        pad = self.pad_id if pad_id is None else pad_id
        input_ids, real = self._gather(self._tokens, self._offsets, self.lengths, idx, pad,
                                       pad_to_multiple_of)
        labels, _ = self._gather(self._target_tokens, self._target_offsets, self.target_lengths,
                                 idx, -1, pad_to_multiple_of)
        return {"input_ids": input_ids, "attention_mask": real.astype(np.int64),
                "labels": labels}
