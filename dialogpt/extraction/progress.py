"""Progress of one month's dump reading: a bar on a terminal, a line now and then under ``make -j``.

Months run as separate processes; under ``make -j N`` several bars would overwrite each other on
one terminal, so there each process logs one line per ``interval`` seconds instead
(``RC_2011-01.zst: 45% of 260.1 MB, 1,204,000 lines``). Without a terminal nothing is shown (the
month's report line is logged at the end as before).
"""

from __future__ import annotations

import logging
import os
import sys
import time
from pathlib import Path
from typing import Iterable, Iterator

logger = logging.getLogger(__name__)

_EVERY_LINES = 4096


def parallel_make() -> bool:
    """True when running under ``make -j`` (GNU make passes ``-jN`` or ``-j`` in MAKEFLAGS)."""
    words = os.environ.get("MAKEFLAGS", "").split(" -- ")[0].split()
    flags = [word for word in words if "=" not in word]
    return any(flag.startswith("-j") or (index == 0 and flag[:1] != "-" and "j" in flag)
               for index, flag in enumerate(flags))


def choose_mode(stream=None) -> str:
    """``bar``, ``lines`` or ``off`` (see the module doc)."""
    stream = stream if stream is not None else sys.stderr
    if not getattr(stream, "isatty", lambda: False)():
        return "off"
    return "lines" if parallel_make() else "bar"


def tracked(lines: Iterable[bytes], path: Path, stats, mode: str | None = None,
            interval: float = 30.0) -> Iterator[bytes]:
    """Yield ``lines`` unchanged while showing how far into ``path`` the reader is.

    ``stats`` is the reader's ``ReadStats`` (``compressed_bytes`` read so far, ``lines``).
    """
    mode = mode or choose_mode()
    if mode == "off":
        yield from lines
        return
    total = Path(path).stat().st_size
    bar = None
    if mode == "bar":
        from tqdm import tqdm
        bar = tqdm(total=total, unit="B", unit_scale=True, desc=Path(path).name, leave=False)
    last = time.monotonic()
    try:
        for count, line in enumerate(lines, start=1):
            yield line
            if count % _EVERY_LINES:
                continue
            if bar is not None:
                bar.update(stats.compressed_bytes - bar.n)
            elif time.monotonic() - last >= interval:
                last = time.monotonic()
                logger.info("%s: %d%% of %.1f MB, %s lines", Path(path).name,
                            100 * stats.compressed_bytes // max(total, 1), total / 1e6,
                            f"{stats.lines:,}")
    finally:
        if bar is not None:
            bar.close()
