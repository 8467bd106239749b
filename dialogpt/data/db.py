"""The token DB: sharded, memory-mapped token ids plus a compact label index.

Layout of a DB directory (everything described by ``manifest.json``)::

    manifest.json                  format version, tokenizer, flags, counts, per-file sha256
    summary.json                   the prepro summary (lines read/skipped by reason, tokens, cuts)
    NNNNN.tokens.bin               token ids of shard NNNNN, all examples concatenated
    NNNNN.lengths.bin              per example: its length (uint8 if max_seq_len <= 255, else uint16)
    NNNNN.label_start.bin          per example: first predicted position (same dtype as lengths)
    NNNNN.exc_index.bin            uint32: shard-local ids of examples with an irregular label mask
    NNNNN.exc_span_count.bin       uint16: number of predicted spans of each such example
    NNNNN.exc_spans.bin            uint16 pairs (start, end) of their spans
    NNNNN.exc_weights.bin          float64 weight of each of their spans

Tokens are uint16 when the vocabulary fits (GPT-2: 50,257), else uint32. Labels are not stored:
a predicted position's label is always the next input token (EOS at the end), so the common
example (everything from ``label_start`` to the end predicted with weight 1.0) costs one extra
length-sized integer; only examples with a weight-0 turn between predicted turns, or weights other
than 1.0, go to the ``exc_*`` side table. On the GPT-2 BPE this is ~2.03-2.07 bytes per token.

The manifest's ``kind`` says what the examples are: ``causal`` (above; the default of manifests
without ``kind``) or ``seq2seq`` (GODEL: an encoder source and a decoder target per example,
stored as ``NNNNN.tokens.bin``/``NNNNN.lengths.bin`` for the sources and
``NNNNN.target_tokens.bin``/``NNNNN.target_lengths.bin`` for the targets, each target ending in
EOS; read by :class:`dialogpt.data.db_seq2seq.Seq2SeqDB`). Same manifest, checksums and sharding
for both; :func:`dialogpt.data.db_open.open_db` opens a DB of either kind.
"""

from __future__ import annotations

import hashlib
import json
import os
from bisect import bisect_right
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from dialogpt.cli import UserError

if TYPE_CHECKING:
    import numpy as np

FORMAT_NAME = "dialogpt-token-db"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
SUMMARY = "summary.json"
MAX_SUPPORTED_SEQ_LEN = 65535

# file kind -> dtype name ("length" means the DB's length dtype)
_SHARD_FILES = {
    "tokens": "token",
    "lengths": "length",
    "label_start": "length",
    "exc_index": "uint32",
    "exc_span_count": "uint16",
    "exc_spans": "uint16",
    "exc_weights": "float64",
}


KINDS = ("causal", "seq2seq")

# seq2seq shards: sources and targets, each as tokens + lengths
_SEQ2SEQ_FILES = {
    "tokens": "token",
    "lengths": "length",
    "target_tokens": "token",
    "target_lengths": "length",
}


def shard_files_of(kind: str) -> dict[str, str]:
    """The shard files (file kind -> dtype name) of a DB of ``kind``."""
    if kind not in KINDS:
        raise UserError(f"unknown DB kind {kind!r}; this code reads {', '.join(KINDS)}")
    return _SEQ2SEQ_FILES if kind == "seq2seq" else _SHARD_FILES


def token_dtype_for(vocab_size: int) -> str:
    return "uint16" if vocab_size <= 1 << 16 else "uint32"


def length_dtype_for(max_seq_len: int) -> str:
    if max_seq_len > MAX_SUPPORTED_SEQ_LEN:
        raise UserError(f"max_seq_len {max_seq_len} is larger than the supported "
                        f"{MAX_SUPPORTED_SEQ_LEN}")
    return "uint8" if max_seq_len <= 255 else "uint16"


def shard_file(shard: int, kind: str) -> str:
    return f"{shard:05d}.{kind}.bin"


@dataclass
class EncodedFeatures:
    """Features of consecutive examples in storage form (what a prepro worker sends back).

    ``exc_local`` are indices into this batch of examples; ``exc_spans`` holds ``(start, end)``
    rows, ``exc_span_count[k]`` of them for the k-th irregular example.
    """

    tokens: "np.ndarray"
    lengths: "np.ndarray"
    label_start: "np.ndarray"
    exc_local: "np.ndarray"
    exc_span_count: "np.ndarray"
    exc_spans: "np.ndarray"
    exc_weights: "np.ndarray"

    @property
    def n_examples(self) -> int:
        return len(self.lengths)


MAX_SHARD_EXAMPLES = 1 << 31


def shard_is_full(n_examples: int, n_tokens: int, n_target_tokens: int, shard_tokens: int) -> bool:
    """Whether a shard holding these counts is closed (checked after each chunk is added;
    ``dialogpt.data.prepro_cluster`` computes the same boundaries from per-chunk counts)."""
    return max(n_tokens, n_target_tokens) >= shard_tokens or n_examples >= MAX_SHARD_EXAMPLES


class _HashedFile:
    """An append-only binary file that keeps its sha256 and size as it is written."""

    def __init__(self, path: Path):
        self.handle = open(path, "wb")
        self.digest = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> None:
        self.handle.write(data)
        self.digest.update(data)
        self.size += len(data)

    def close(self) -> dict:
        self.handle.flush()
        os.fsync(self.handle.fileno())
        self.handle.close()
        return {"bytes": self.size, "sha256": self.digest.hexdigest()}


class ShardWriter:
    """Streams :class:`EncodedFeatures` into shard files of about ``shard_tokens`` tokens each.

    Write into a temporary directory (``dialogpt.fileio.atomic_dir``); :meth:`finish` writes the
    manifest last, so a directory without a manifest is never a DB. ``first_shard``: the number
    of the first shard written (a distributed build writes each shard in its own task).
    """

    def __init__(self, directory: Path, token_dtype: str, length_dtype: str,
                 shard_tokens: int = 1 << 27, kind: str = "causal", first_shard: int = 0):
        self.kind = kind
        self.first_shard = first_shard
        self.file_kinds = shard_files_of(kind)
        self.directory = Path(directory)
        self.token_dtype = token_dtype
        self.length_dtype = length_dtype
        self.shard_tokens = shard_tokens
        self.shards: list[dict] = []
        self._files: dict[str, _HashedFile] | None = None
        self._counts: dict[str, int] = {}

    def _open_shard(self) -> None:
        shard = self.first_shard + len(self.shards)
        self._files = {kind: _HashedFile(self.directory / shard_file(shard, kind))
                       for kind in self.file_kinds}
        self._counts = ({"n_examples": 0, "n_tokens": 0, "n_target_tokens": 0}
                        if self.kind == "seq2seq" else
                        {"n_examples": 0, "n_tokens": 0, "n_exceptions": 0,
                         "n_exception_spans": 0})

    def _close_shard(self) -> None:
        files = {shard_file(self.first_shard + len(self.shards), kind): handle.close()
                 for kind, handle in self._files.items()}
        self.shards.append({**self._counts, "files": files})
        self._files = None

    def add(self, encoded: EncodedFeatures) -> None:
        import numpy as np

        if encoded.n_examples == 0:
            return
        if self._files is None:
            self._open_shard()
        if self.kind == "seq2seq":
            self._add_pairs(encoded)
            return
        files, counts = self._files, self._counts
        files["tokens"].write(encoded.tokens.astype(self.token_dtype, copy=False).tobytes())
        files["lengths"].write(encoded.lengths.astype(self.length_dtype, copy=False).tobytes())
        files["label_start"].write(
            encoded.label_start.astype(self.length_dtype, copy=False).tobytes())
        local = (encoded.exc_local + counts["n_examples"]).astype(np.uint32)
        files["exc_index"].write(local.tobytes())
        files["exc_span_count"].write(encoded.exc_span_count.astype(np.uint16).tobytes())
        files["exc_spans"].write(encoded.exc_spans.astype(np.uint16).tobytes())
        files["exc_weights"].write(encoded.exc_weights.astype(np.float64).tobytes())
        counts["n_examples"] += encoded.n_examples
        counts["n_tokens"] += len(encoded.tokens)
        counts["n_exceptions"] += len(encoded.exc_local)
        counts["n_exception_spans"] += len(encoded.exc_weights)
        if shard_is_full(counts["n_examples"], counts["n_tokens"], 0, self.shard_tokens):
            self._close_shard()

    def _add_pairs(self, pairs) -> None:
        """Append :class:`dialogpt.data.seq2seq.EncodedPairs` (sources and targets)."""
        files, counts = self._files, self._counts
        for kind in self.file_kinds:
            dtype = self.token_dtype if kind.endswith("tokens") else self.length_dtype
            files[kind].write(getattr(pairs, kind).astype(dtype, copy=False).tobytes())
        counts["n_examples"] += pairs.n_examples
        counts["n_tokens"] += len(pairs.tokens)
        counts["n_target_tokens"] += len(pairs.target_tokens)
        if shard_is_full(counts["n_examples"], counts["n_tokens"], counts["n_target_tokens"],
                         self.shard_tokens):
            self._close_shard()

    def close_shards(self) -> list[dict]:
        """Close the open shard, if any; the table of the shards written (manifest entries)."""
        if self._files is not None:
            self._close_shard()
        return self.shards

    def finish(self, manifest: dict) -> dict:
        """Close the last shard and write ``manifest.json`` (``manifest`` plus the shard table)."""
        from dialogpt.fileio import atomic_write

        self.close_shards()
        full = {
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "kind": self.kind,
            **manifest,
            "token_dtype": self.token_dtype,
            "length_dtype": self.length_dtype,
            "n_examples": sum(shard["n_examples"] for shard in self.shards),
            "n_tokens": sum(shard["n_tokens"] for shard in self.shards),
            "shards": self.shards,
        }
        with atomic_write(self.directory / MANIFEST) as out:
            json.dump(full, out, indent=1)
            out.write("\n")
        return full


def read_manifest(path: str | os.PathLike) -> dict:
    """The manifest of DB directory ``path`` (``UserError`` naming the problem if unreadable)."""
    path = Path(path)
    if not path.is_dir():
        raise UserError(f"token DB {path} does not exist (build it with prepro.py --corpus TSV)")
    manifest_path = path / MANIFEST
    if not manifest_path.is_file():
        raise UserError(f"{path} is not a token DB: {MANIFEST} is missing (an unfinished or "
                        "original-format DB? rebuild it with prepro.py --force)")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"{manifest_path} is corrupt ({exc}); rebuild with prepro.py --force") \
            from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_NAME:
        raise UserError(f"{manifest_path} is not a {FORMAT_NAME} manifest")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise UserError(f"{path}: DB format version {manifest.get('format_version')} is not "
                        f"supported (this code reads version {FORMAT_VERSION}); rebuild it")
    return manifest


@dataclass
class _Shard:
    tokens: "np.ndarray"
    first_example: int
    n_examples: int


class TokenDB:
    """A read-only token DB.

    ``db[i]`` -> ``(input_ids, labels)`` as int64 arrays, unpadded; labels pre-shifted, -1 = not
    predicted. ``db.lengths`` are the example lengths, ``db.manifest`` the manifest (``tokenizer``,
    ``tokenizer_fingerprint``, ``vocab_size``, ``eos_id``, ``max_seq_len``, ``reverse``,
    ``two_turn``, ``n_examples``, ``n_tokens``, ...). Opening checks every file's size and, with
    ``verify=True`` (default), its sha256: a corrupt or mismatched shard raises ``UserError``.
    """

    kind = "causal"

    def __init__(self, path: str | os.PathLike, verify: bool = True):
        import numpy as np

        self.path = Path(path)
        self.manifest = read_manifest(self.path)
        if self.manifest.get("kind", "causal") != "causal":
            raise UserError(f"{self.path} is a {self.manifest.get('kind')} DB, not a causal one "
                            "(open a DB of either kind with dialogpt.data.db_open.open_db)")
        try:
            self.eos_id = int(self.manifest["eos_id"])
            self.max_seq_len = int(self.manifest["max_seq_len"])
            dtypes = {"token": np.dtype(self.manifest["token_dtype"]),
                      "length": np.dtype(self.manifest["length_dtype"])}
            shards = self.manifest["shards"]
        except (KeyError, TypeError, ValueError) as exc:
            raise UserError(f"{self.path / MANIFEST} lacks a valid field: {exc}") from exc
        self._shards: list[_Shard] = []
        lengths, label_start, offsets = [], [], []
        exc_ids, exc_counts, exc_spans, exc_weights = [], [], [], []
        first = 0
        for number, info in enumerate(shards):
            arrays = {kind: self._open_file(number, kind, np.dtype(dtypes.get(d, d)), info,
                                            verify)
                      for kind, d in _SHARD_FILES.items()}
            n = int(info["n_examples"])
            self._check_shard(number, info, arrays)
            shard_lengths = np.asarray(arrays["lengths"])
            lengths.append(shard_lengths)
            label_start.append(np.asarray(arrays["label_start"]))
            # shard-local offsets: uint32 keeps the in-memory index at ~8 bytes per example
            offset_dtype = np.uint32 if int(info["n_tokens"]) < 1 << 32 else np.int64
            shard_offsets = np.zeros(n, dtype=offset_dtype)
            np.cumsum(shard_lengths[:-1], out=shard_offsets[1:], dtype=offset_dtype)
            offsets.append(shard_offsets)
            exc_ids.append(np.asarray(arrays["exc_index"], dtype=np.int64) + first)
            exc_counts.append(np.asarray(arrays["exc_span_count"], dtype=np.int64))
            exc_spans.append(np.asarray(arrays["exc_spans"]).reshape(-1, 2).astype(np.int64))
            exc_weights.append(np.asarray(arrays["exc_weights"]))
            self._shards.append(_Shard(arrays["tokens"], first, n))
            first += n
        concat = (lambda parts, dtype: np.concatenate(parts) if parts
                  else np.zeros(0, dtype=dtype))
        self.lengths: np.ndarray = concat(lengths, dtypes["length"])
        self._label_start = concat(label_start, dtypes["length"])
        self._offsets = concat(offsets, np.uint32)
        self._shard_starts = [shard.first_example for shard in self._shards]
        self._shard_index = np.repeat(np.arange(len(self._shards), dtype=np.int32),
                                      [shard.n_examples for shard in self._shards])
        self._exc_ids = concat(exc_ids, np.int64)
        counts = concat(exc_counts, np.int64)
        self._exc_ptr = np.zeros(len(counts) + 1, dtype=np.int64)
        np.cumsum(counts, out=self._exc_ptr[1:])
        self._exc_spans = (np.concatenate(exc_spans) if exc_spans
                           else np.zeros((0, 2), dtype=np.int64))
        self._exc_weights = concat(exc_weights, np.float64)
        if len(self.lengths) != self.manifest.get("n_examples"):
            raise UserError(f"{self.path}: manifest says {self.manifest.get('n_examples')} "
                            f"examples, shards hold {len(self.lengths)}; rebuild the DB")

    def _open_file(self, shard: int, kind: str, dtype, info: dict, verify: bool):
        import numpy as np

        from dialogpt.fileio import sha256_file

        name = shard_file(shard, kind)
        path = self.path / name
        expected = info.get("files", {}).get(name)
        if expected is None:
            raise UserError(f"{self.path / MANIFEST} does not list {name}; rebuild the DB")
        if not path.is_file():
            raise UserError(f"{path} is missing; the DB is incomplete: rebuild it with "
                            "prepro.py --force")
        size = path.stat().st_size
        if size != expected["bytes"] or size % dtype.itemsize:
            raise UserError(f"{path} has {size} bytes, the manifest says {expected['bytes']}: "
                            "corrupt or mismatched shard; rebuild with prepro.py --force")
        if verify and sha256_file(path) != expected["sha256"]:
            raise UserError(f"{path} does not match its sha256 in the manifest: corrupt or "
                            "mismatched shard; rebuild with prepro.py --force")
        if size == 0:
            return np.zeros(0, dtype=dtype)
        return np.memmap(path, dtype=dtype, mode="r")

    def _check_shard(self, number: int, info: dict, arrays: dict) -> None:
        """Cheap structural checks that catch a shard from another DB or a bad manifest."""
        import numpy as np

        n, n_tokens = int(info["n_examples"]), int(info["n_tokens"])
        lengths = np.asarray(arrays["lengths"])
        problems = []
        if len(lengths) != n or len(arrays["label_start"]) != n:
            problems.append("example count")
        elif int(lengths.sum(dtype=np.int64)) != n_tokens or len(arrays["tokens"]) != n_tokens:
            problems.append("token count")
        elif n and (int(lengths.max()) > self.max_seq_len
                    or bool(np.any(np.asarray(arrays["label_start"]) >= lengths))):
            problems.append("lengths")
        elif (len(arrays["exc_span_count"]) != len(arrays["exc_index"])
              or int(np.asarray(arrays["exc_span_count"]).sum(dtype=np.int64)) * 2
              != len(arrays["exc_spans"])
              or len(arrays["exc_weights"]) * 2 != len(arrays["exc_spans"])):
            problems.append("label index")
        if problems:
            raise UserError(f"{self.path}: shard {number} is inconsistent with the manifest "
                            f"({problems[0]}); rebuild with prepro.py --force")

    def __len__(self) -> int:
        return len(self.lengths)

    @property
    def bucket_lengths(self) -> "np.ndarray":
        """What the bucketing loaders sort by: the example lengths."""
        return self.lengths

    def _check_index(self, index: int) -> int:
        n = len(self)
        if not -n <= index < n:
            raise IndexError(f"example {index} out of range for a DB of {n} examples")
        return index % n if n else index

    def _exception(self, index: int) -> int | None:
        import numpy as np

        pos = int(np.searchsorted(self._exc_ids, index))
        if pos < len(self._exc_ids) and self._exc_ids[pos] == index:
            return pos
        return None

    def spans(self, index: int) -> list[tuple[int, int, float]]:
        """The predicted spans ``(start, end, weight)`` of example ``index``."""
        index = self._check_index(index)
        exc = self._exception(index)
        if exc is None:
            return [(int(self._label_start[index]), int(self.lengths[index]), 1.0)]
        lo, hi = self._exc_ptr[exc], self._exc_ptr[exc + 1]
        return [(int(s), int(e), float(w))
                for (s, e), w in zip(self._exc_spans[lo:hi], self._exc_weights[lo:hi])]

    def input_ids(self, index: int) -> "np.ndarray":
        import numpy as np

        index = self._check_index(index)
        shard = self._shards[bisect_right(self._shard_starts, index) - 1]
        start = int(self._offsets[index])
        return np.asarray(shard.tokens[start:start + int(self.lengths[index])], dtype=np.int64)

    def __getitem__(self, index: int) -> tuple["np.ndarray", "np.ndarray"]:
        import numpy as np

        input_ids = self.input_ids(index)
        following = np.empty_like(input_ids)
        following[:-1] = input_ids[1:]
        following[-1] = self.eos_id
        labels = np.full_like(input_ids, -1)
        for start, end, _ in self.spans(index):
            labels[start:end] = following[start:end]
        return input_ids, labels

    def token_weights(self, index: int) -> "np.ndarray":
        """Per-position weights as the original stores them (0.0 where not predicted)."""
        import numpy as np

        weights = np.zeros(int(self.lengths[self._check_index(index)]), dtype=np.float64)
        for start, end, weight in self.spans(index):
            weights[start:end] = weight
        return weights

    def batch(self, indices: Sequence[int], pad_id: int = 0,
              pad_to_multiple_of: int = 1) -> dict[str, "np.ndarray"]:
        """Padded int64 arrays ``input_ids``, ``labels``, ``attention_mask``, ``position_ids``.

        Vectorised: one gather per shard, no per-example Python except for the (rare) examples
        with an irregular label mask. Padding goes at the end with ``pad_id`` and label -1.
        """
        import numpy as np

        idx = np.asarray(indices, dtype=np.int64)
        lengths = self.lengths[idx].astype(np.int64)
        width = int(lengths.max()) if len(idx) else 0
        width = -(-width // pad_to_multiple_of) * pad_to_multiple_of
        positions = np.arange(width, dtype=np.int64)
        real = positions[None, :] < lengths[:, None]
        input_ids = np.full((len(idx), width), pad_id, dtype=np.int64)
        shard_of = self._shard_index[idx]
        for shard_number in sorted(set(shard_of.tolist())):
            rows = np.nonzero(shard_of == shard_number)[0]
            tokens = self._shards[shard_number].tokens
            source = self._offsets[idx[rows]].astype(np.int64)[:, None] + positions[None, :]
            np.minimum(source, len(tokens) - 1, out=source)
            input_ids[rows] = np.where(real[rows], tokens[source], pad_id)
        following = np.full_like(input_ids, -1)
        following[:, :-1] = input_ids[:, 1:]
        following[np.arange(len(idx)), lengths - 1] = self.eos_id
        label_start = self._label_start[idx].astype(np.int64)
        predicted = real & (positions[None, :] >= label_start[:, None])
        labels = np.where(predicted, following, -1)
        if len(self._exc_ids):
            found = np.minimum(np.searchsorted(self._exc_ids, idx), len(self._exc_ids) - 1)
            for row in np.nonzero(self._exc_ids[found] == idx)[0]:
                labels[row] = -1
                for start, end, _ in self.spans(int(idx[row])):
                    labels[row, start:end] = following[row, start:end]
        return {
            "input_ids": input_ids,
            "labels": labels,
            "attention_mask": real.astype(np.int64),
            "position_ids": np.where(real, positions[None, :], 0),
        }
