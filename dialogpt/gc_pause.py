"""Pausing Python's cyclic garbage collector around work that makes a great many objects."""

from __future__ import annotations

import contextlib
import gc
from typing import Iterator


@contextlib.contextmanager
def gc_paused(*, keep_frozen: bool = False) -> Iterator[None]:
    """No cyclic garbage collection inside the block.

    Building hundreds of thousands of small acyclic objects (an extraction split, or the modules
    and weights torch and transformers load) sets off collection after collection that walks them
    all and frees next to nothing. On the way out ``gc.freeze()`` moves every tracked object to
    the permanent generation and zeroes the young count, so the first allocation after
    re-enabling does not start a collection that walks everything made inside once more. With
    ``keep_frozen`` they stay there, never scanned again (for what lives until exit: loaded
    modules and models); otherwise ``gc.unfreeze()`` hands them to the oldest generation, where
    they can still be collected.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if not keep_frozen:
            gc.unfreeze()
        if enabled:
            gc.enable()
