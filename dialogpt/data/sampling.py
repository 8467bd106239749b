"""The epoch plan of the bucketing loaders: which examples form each batch, in which order.

Pure functions of (example lengths, seed, epoch, rank, world_size): every rank computes the same
global permutation, takes an equal share of it, and groups its share into length buckets. This
replaces the original's sharding by 65k-example DB chunk (where a small corpus left ranks idle and
ranks saw different numbers of batches).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np


def examples_per_rank(n_examples: int, world_size: int) -> int:
    """Every rank gets ``ceil(n / world_size)`` examples (the last ones wrap around)."""
    return math.ceil(n_examples / world_size)


def batches_per_epoch(n_examples: int, batch_size: int, bucket_size: int, world_size: int,
                      drop_last: bool) -> int:
    """The number of batches :func:`plan_epoch` returns (the same on every rank)."""
    per_rank = examples_per_rank(n_examples, world_size)
    bucket_examples = bucket_size * batch_size
    full, rest = divmod(per_rank, bucket_examples)
    batches = full * bucket_size
    return batches + (rest // batch_size if drop_last else math.ceil(rest / batch_size))


def plan_epoch(example_ids: "np.ndarray", lengths: "np.ndarray", batch_size: int,
               bucket_size: int = 100, shuffle: bool = True, seed: int = 42, epoch: int = 0,
               rank: int = 0, world_size: int = 1, drop_last: bool = False) -> list["np.ndarray"]:
    """The batches of one epoch for one rank, as arrays of example ids.

    1. Order the examples: a permutation seeded by ``(seed, epoch)`` (identical on all ranks),
       or file order without ``shuffle``.
    2. Pad the order by wrapping around to a multiple of ``world_size``; rank r takes positions
       ``r, r + world_size, ...`` (like ``torch.utils.data.DistributedSampler``).
    3. Cut the rank's share into buckets of ``bucket_size * batch_size`` examples (the original's
       ``bucket`` argument), sort each bucket by length (longest first) and cut it into batches,
       so a batch holds examples of similar length and pads little.
    4. With ``shuffle``, permute the batches with a generator seeded by
       ``(seed, epoch, rank, world_size)``.
    ``lengths[k]`` is the length of ``example_ids[k]``.
    """
    import numpy as np

    n = len(example_ids)
    if n == 0:
        return []
    order = np.arange(n)
    if shuffle:
        order = np.random.default_rng([seed, epoch]).permutation(n)
    per_rank = examples_per_rank(n, world_size)
    order = np.resize(order, per_rank * world_size)
    mine = order[rank::world_size]
    bucket_examples = bucket_size * batch_size
    batches = []
    for begin in range(0, len(mine), bucket_examples):
        bucket = mine[begin:begin + bucket_examples]
        bucket = bucket[np.argsort(-lengths[bucket].astype(np.int64), kind="stable")]
        batches.extend(example_ids[bucket[i:i + batch_size]]
                       for i in range(0, len(bucket), batch_size))
    if drop_last:
        batches = [batch for batch in batches if len(batch) == batch_size]
    if shuffle:
        permutation = np.random.default_rng([seed, epoch, rank, world_size]).permutation(
            len(batches))
        batches = [batches[i] for i in permutation]
    return batches
