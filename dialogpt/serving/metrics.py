"""Server metrics in the Prometheus text exposition format (``GET /metrics``), no dependency.

Counters: requests by route and status, tokens generated, safe-mode resamples and replacements,
disconnects. Histograms: request latency by route, rows per ``generate`` call (batch size).
Gauges: requests waiting in the queue and requests being decoded. Thread-safe (the generation
worker updates them from its own thread).
"""

from __future__ import annotations

import threading
from bisect import bisect_left
from collections import defaultdict

LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128)
PREFIX = "dialogpt_"


def _labels(pairs: tuple[tuple[str, str], ...]) -> str:
    if not pairs:
        return ""
    escaped = (f'{k}="{v.replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"'
               for k, v in pairs)
    return "{" + ",".join(escaped) + "}"


class Histogram:
    def __init__(self, buckets: tuple[float, ...]) -> None:
        self.buckets = buckets
        self.counts = [0] * (len(buckets) + 1)
        self.total = 0.0
        self.count = 0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.buckets, value)] += 1
        self.total += value
        self.count += 1

    def lines(self, name: str, labels: tuple[tuple[str, str], ...]) -> list[str]:
        out = []
        cumulative = 0
        for bound, count in zip(self.buckets, self.counts):
            cumulative += count
            out.append(f"{name}_bucket{_labels(labels + (('le', repr(float(bound))),))} "
                       f"{cumulative}")
        out.append(f"{name}_bucket{_labels(labels + (('le', '+Inf'),))} {self.count}")
        out.append(f"{name}_sum{_labels(labels)} {self.total}")
        out.append(f"{name}_count{_labels(labels)} {self.count}")
        return out


class Metrics:
    HELP = {
        "requests_total": ("counter", "HTTP requests answered, by route and status code"),
        "generated_tokens_total": ("counter", "tokens generated (every row of every batch)"),
        "safe_resamples_total": ("counter", "safe mode: replies resampled for a blocked word"),
        "safe_replacements_total": ("counter", "safe mode: replies replaced by the neutral one"),
        "disconnects_total": ("counter", "clients gone before their reply was finished"),
        "request_latency_seconds": ("histogram", "time from request to last byte, by route"),
        "batch_size": ("histogram", "rows (sequences) decoded together per generate call"),
        "queue_depth": ("gauge", "requests waiting for the generation worker"),
        "requests_in_flight": ("gauge", "requests being decoded now"),
    }

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.counters: dict[str, dict[tuple, float]] = defaultdict(lambda: defaultdict(float))
        self.histograms: dict[str, dict[tuple, Histogram]] = defaultdict(dict)
        self.gauges: dict[str, float] = {"queue_depth": 0, "requests_in_flight": 0}

    def inc(self, name: str, value: float = 1, **labels: str) -> None:
        with self.lock:
            self.counters[name][tuple(sorted(labels.items()))] += value

    def observe(self, name: str, value: float, **labels: str) -> None:
        buckets = BATCH_BUCKETS if name == "batch_size" else LATENCY_BUCKETS
        with self.lock:
            key = tuple(sorted(labels.items()))
            self.histograms[name].setdefault(key, Histogram(buckets)).observe(value)

    def set_gauge(self, name: str, value: float) -> None:
        with self.lock:
            self.gauges[name] = value

    def render(self) -> str:
        lines: list[str] = []
        with self.lock:
            for name, (kind, help_text) in self.HELP.items():
                full = PREFIX + name
                lines += [f"# HELP {full} {help_text}", f"# TYPE {full} {kind}"]
                if kind == "counter":
                    series = self.counters.get(name) or {(): 0.0}
                    lines += [f"{full}{_labels(k)} {v:g}" for k, v in sorted(series.items())]
                elif kind == "histogram":
                    for key, histogram in sorted(self.histograms.get(name, {}).items()):
                        lines += histogram.lines(full, key)
                else:
                    lines.append(f"{full} {self.gauges.get(name, 0):g}")
        return "\n".join(lines) + "\n"
