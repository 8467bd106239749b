"""Loaders over a prepro token DB (training) or a TSV file (evaluation); see dialogpt.data.loader."""

from dialogpt.data.loader import (BucketingDataLoader, DistributedBucketingDataLoader,
                                  DynamicBatchingLoader)
from dialogpt.data.db import TokenDB

__all__ = ["BucketingDataLoader", "DistributedBucketingDataLoader", "DynamicBatchingLoader",
           "TokenDB"]
