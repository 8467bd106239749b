"""Loaders over a prepro token DB (training; causal or seq2seq) or a TSV / GODEL JSONL file
(evaluation); see dialogpt.data.loader."""

from dialogpt.data.loader import (BucketingDataLoader, DistributedBucketingDataLoader,
                                  DynamicBatchingLoader, GroundedEvalLoader)
from dialogpt.data.db import TokenDB
from dialogpt.data.db_open import open_db

__all__ = ["BucketingDataLoader", "DistributedBucketingDataLoader", "DynamicBatchingLoader",
           "GroundedEvalLoader", "TokenDB", "open_db"]
