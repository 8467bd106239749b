"""The reference packer of the data tests: features (``dialogpt.data.features.Feature``) into the
arrays a shard stores, one feature at a time, against which the vectorised hot path
(``dialogpt.data.pipeline``) is checked and with which tiny DBs are written."""

from __future__ import annotations

import array
from typing import Sequence

from dialogpt.data.db import EncodedFeatures


def encode_features(features: Sequence, token_dtype: str,
                    length_dtype: str) -> EncodedFeatures:
    """Pack features into the arrays a shard stores."""
    import numpy as np

    lengths = [len(feature.input_ids) for feature in features]
    label_start = []
    exc_local, exc_count, exc_spans, exc_weights = [], [], [], []
    for k, feature in enumerate(features):
        spans = feature.spans
        label_start.append(spans[0][0])
        if len(spans) == 1 and spans[0][2] == 1.0:
            continue
        exc_local.append(k)
        exc_count.append(len(spans))
        for start, end, weight in spans:
            exc_spans.append((start, end))
            exc_weights.append(weight)
    tokens = array.array("H" if np.dtype(token_dtype).itemsize == 2 else "I")
    for feature in features:
        tokens.extend(feature.input_ids)
    return EncodedFeatures(
        tokens=np.frombuffer(tokens, dtype=tokens.typecode).astype(token_dtype, copy=False),
        lengths=np.asarray(lengths, dtype=length_dtype),
        label_start=np.asarray(label_start, dtype=length_dtype),
        exc_local=np.asarray(exc_local, dtype=np.int64),
        exc_span_count=np.asarray(exc_count, dtype=np.uint16),
        exc_spans=np.asarray(exc_spans, dtype=np.uint16).reshape(-1, 2),
        exc_weights=np.asarray(exc_weights, dtype=np.float64),
    )
