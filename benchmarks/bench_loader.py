"""BucketingDataLoader throughput: shuffled examples per second, padded torch batches out.

    python benchmarks/run.py loader [--examples 200000] [--batch_size 32]

Builds a synthetic token DB (random GPT-2 ids, lengths 8-128 like windowed Reddit conversations,
every 20th example with an irregular label mask), then times a full shuffled epoch of the loader
(plan + gather + labels + torch tensors) and random single-example access ``db[i]``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def build_synthetic_db(path: Path, n_examples: int, seed: int) -> None:
    import numpy as np

    from dialogpt.data.db import EncodedFeatures, ShardWriter

    rng = np.random.default_rng(seed)
    path.mkdir(parents=True)
    writer = ShardWriter(path, "uint16", "uint8", shard_tokens=1 << 22)
    for begin in range(0, n_examples, 10_000):
        n = min(10_000, n_examples - begin)
        lengths = rng.integers(8, 129, n)
        label_start = (lengths * rng.uniform(0.2, 0.8, n)).astype(np.int64)
        irregular = np.arange(0, n, 20)
        spans = np.stack([label_start[irregular], lengths[irregular]], axis=1)
        writer.add(EncodedFeatures(
            tokens=rng.integers(0, 50256, int(lengths.sum())).astype(np.uint16),
            lengths=lengths.astype(np.uint8), label_start=label_start.astype(np.uint8),
            exc_local=irregular, exc_span_count=np.ones(len(irregular), dtype=np.uint16),
            exc_spans=spans.astype(np.uint16), exc_weights=np.full(len(irregular), 0.5)))
    writer.finish({"tokenizer": "synthetic", "tokenizer_fingerprint": "synthetic",
                   "vocab_size": 50257, "eos_id": 50256, "max_seq_len": 128,
                   "reverse": False, "two_turn": False})


def main(argv: list[str] | None = None) -> int:
    import numpy as np
    import torch

    from dialogpt.data.db import TokenDB
    from dialogpt.data.loader import BucketingDataLoader

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=200_000, help="examples in the DB")
    parser.add_argument("--batch_size", type=int, default=32, help="loader batch size")
    parser.add_argument("--seed", type=int, default=0, help="data and shuffle seed")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.db"
        build_synthetic_db(path, args.examples, args.seed)

        started = time.perf_counter()
        db = TokenDB(path)
        open_s = time.perf_counter() - started

        loader = BucketingDataLoader(db, args.batch_size, seed=args.seed)
        started = time.perf_counter()
        examples = tokens = 0
        for batch in loader:
            examples += batch["input_ids"].shape[0]
            tokens += int(batch["attention_mask"].sum())
        epoch_s = time.perf_counter() - started

        picks = np.random.default_rng(args.seed).integers(0, len(db), 20_000)
        started = time.perf_counter()
        for index in picks:
            db[int(index)]
        single_s = time.perf_counter() - started

    print(json.dumps({
        "benchmark": "loader", "examples": examples, "batch_size": args.batch_size,
        "shards": len(db.manifest["shards"]), "open_s": round(open_s, 3),
        "loader_examples_per_s": round(examples / epoch_s),
        "loader_tokens_per_s": round(tokens / epoch_s),
        "random_getitem_per_s": round(len(picks) / single_s),
    }))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    raise SystemExit(main())
