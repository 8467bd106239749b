"""``prepro.py --executor ray``: the token DB built by Ray tasks, byte-identical to the local build.

The corpus is cut into byte ranges at line ends (``--range_bytes``). Three rounds of tasks:

1. **count**: the lines of each range, so every range knows its first global line number;
2. **encode**: each range is read, cut into chunks at the local path's chunk boundaries (global
   lines ``1 + k * --chunk_lines``), and encoded by the same chunk function as ``--workers``
   (:mod:`dialogpt.data.pipeline`, or :mod:`dialogpt.data.seq2seq` for GODEL records); its
   arrays go to part files in the DB's temporary directory, and the task returns per-chunk counts,
   its summary (skips with global line numbers) and its node;
3. **shards**: the driver computes where :class:`dialogpt.data.db.ShardWriter` would end each
   shard (the same :func:`dialogpt.data.db.shard_is_full` rule over the per-chunk counts), then
   one task per shard writes that shard's files from the part files.

The driver then deletes the parts, and ``prepro.py`` writes the summary and the manifest and
renames the directory into place, as on the local path: every shard file and the manifest are
byte-identical to the local build's, for any cluster size and ``--range_bytes``. The corpus and
the output must be on storage every node sees (a shared filesystem). A task whose worker or node
dies is retried (``--max_retries``); a bad line under ``--strict`` fails the run naming the file
and the global line. ``DB/cluster_run.json`` says which node encoded which ranges.
"""

from __future__ import annotations

import dataclasses
import functools
import io
import json
import os
import shutil
import socket
import time
from pathlib import Path

from dialogpt.cli import UserError
from dialogpt.ray_support import connect, import_ray, rows_by_node, task_error

NEEDS_RAY = ("--executor ray", " (or run without --executor ray)")
"""What ``import_ray`` says when Ray is missing."""

DEFAULT_RANGE_BYTES = 1 << 25
PARTS = "parts"
_NO_CLOSE = 1 << 62


@dataclasses.dataclass(frozen=True)
class RayOptions:
    """How ``--executor ray`` runs: the cluster to join, retries, bytes per encode task."""

    address: str | None = None
    max_retries: int = 3
    range_bytes: int = DEFAULT_RANGE_BYTES

    def validate(self) -> None:
        if self.range_bytes < 1 or self.max_retries < 0:
            raise UserError("--range_bytes must be >= 1 and --max_retries >= 0")


def ray_shard_writer(options: RayOptions):
    """``write_shards`` bound to ``options``: the hook ``prepro`` calls instead of its local
    shard writer (``prepro_build.build_db``'s ``write_shards``)."""
    import_ray(*NEEDS_RAY)  # fail at start-up, before any work
    options.validate()
    return functools.partial(write_shards, options=options)


# --- pure parts: ranges, chunks, shard boundaries --------------------------------------------

def split_ranges(path: str | os.PathLike, range_bytes: int) -> list[tuple[int, int]]:
    """``[start, end)`` byte ranges of about ``range_bytes``, each ending just after a ``\\n``
    (or at the end of the file); together they cover the file, none is empty."""
    size = os.path.getsize(path)
    cuts = [0]
    with open(path, "rb") as handle:
        while cuts[-1] < size:
            cuts.append(_next_line_start(handle, cuts[-1] + range_bytes, size))
    return list(zip(cuts[:-1], cuts[1:]))


def _next_line_start(handle, position: int, size: int) -> int:
    """The first line start at or after ``position`` (``size`` if there is none)."""
    if position >= size:
        return size
    handle.seek(position - 1)
    offset = position - 1
    while True:
        block = handle.read(1 << 16)
        if not block:
            return size
        found = block.find(b"\n")
        if found >= 0:
            return offset + found + 1
        offset += len(block)


def count_lines(path: str | os.PathLike, start: int, end: int) -> int:
    """Lines in bytes ``[start, end)`` of ``path`` (a final line without ``\\n`` counts)."""
    count, last = 0, b"\n"
    with open(path, "rb") as handle:
        handle.seek(start)
        left = end - start
        while left > 0:
            block = handle.read(min(left, 1 << 22))
            if not block:
                break
            count += block.count(b"\n")
            last = block[-1:]
            left -= len(block)
    return count + (last != b"\n")


def aligned_chunks(handle, first_line: int, chunk_lines: int):
    """``(first line number, raw lines)`` of ``handle``, whose first line is global line
    ``first_line``, cut where the local path's chunks are cut (before lines ``1 + k *
    chunk_lines``)."""
    from dialogpt.data.lines import read_raw_lines

    chunk: list = []
    first = line = first_line
    for raw in read_raw_lines(handle):
        if chunk and (line - 1) % chunk_lines == 0:
            yield first, chunk
            first, chunk = line, []
        chunk.append(raw)
        line += 1
    if chunk:
        yield first, chunk


def merge_chunk_rows(rows) -> list[tuple[int, int, int]]:
    """``(n_examples, n_tokens, n_target_tokens)`` per chunk, from ``(chunk index, ...)`` rows in
    corpus order (a chunk cut by a range boundary comes as consecutive rows; they are added)."""
    merged: list[list[int]] = []
    last = None
    for index, *counts in rows:
        if index == last:
            merged[-1] = [a + b for a, b in zip(merged[-1], counts)]
        else:
            merged.append(list(counts))
        last = index
    return [tuple(row) for row in merged]


def shard_ends(chunks, shard_tokens: int) -> list[int]:
    """Where ``ShardWriter`` ends its shards, as cumulative example counts, given the
    ``(n_examples, n_tokens, n_target_tokens)`` of each chunk in the order they are added."""
    from dialogpt.data.db import shard_is_full

    ends: list[int] = []
    total = examples = tokens = targets = 0
    for n_examples, n_tokens, n_target_tokens in chunks:
        if n_examples == 0:
            continue  # ShardWriter.add ignores an empty chunk
        total += n_examples
        examples, tokens, targets = (examples + n_examples, tokens + n_tokens,
                                     targets + n_target_tokens)
        if shard_is_full(examples, tokens, targets, shard_tokens):
            ends.append(total)
            examples = tokens = targets = 0
    if examples:
        ends.append(total)
    return ends


def shard_pieces(range_examples: list[int], ends: list[int]) -> list[list[tuple[int, int, int]]]:
    """Per shard, the ``(range, first, end)`` example slices (range-local) it is made of."""
    starts, total = [], 0
    for count in range_examples:
        starts.append(total)
        total += count
    pieces, begin = [], 0
    for end in ends:
        pieces.append([(index, max(begin, start) - start, min(end, start + count) - start)
                       for index, (start, count) in enumerate(zip(starts, range_examples))
                       if count and start < end and start + count > begin])
        begin = end
    return pieces


# --- part files: a range's encoded arrays ----------------------------------------------------

def concat_encoded(parts: list) -> dict:
    """One dict of arrays from a range's chunk results (``EncodedFeatures`` or
    ``EncodedPairs``); ``exc_local`` made range-local."""
    import numpy as np

    names = [field.name for field in dataclasses.fields(parts[0])]
    arrays = {name: np.concatenate([getattr(part, name) for part in parts]) for name in names}
    if "exc_local" in arrays:
        offsets = np.cumsum([0] + [part.n_examples for part in parts[:-1]])
        arrays["exc_local"] = np.concatenate([part.exc_local + offset
                                              for part, offset in zip(parts, offsets)])
    return arrays


def slice_encoded(arrays: dict, lo: int, hi: int, kind: str):
    """Examples ``[lo, hi)`` of a range's arrays, as the object ``ShardWriter.add`` takes."""
    import numpy as np

    def ragged(values, lengths):
        start = int(np.asarray(lengths[:lo]).sum(dtype=np.int64))
        return values[start:start + int(np.asarray(lengths[lo:hi]).sum(dtype=np.int64))]

    if kind == "seq2seq":
        from dialogpt.data.seq2seq import EncodedPairs

        return EncodedPairs(tokens=ragged(arrays["tokens"], arrays["lengths"]),
                            lengths=arrays["lengths"][lo:hi],
                            target_tokens=ragged(arrays["target_tokens"],
                                                 arrays["target_lengths"]),
                            target_lengths=arrays["target_lengths"][lo:hi])
    from dialogpt.data.db import EncodedFeatures

    exc = np.asarray(arrays["exc_local"])
    k0, k1 = np.searchsorted(exc, lo), np.searchsorted(exc, hi)
    counts = np.asarray(arrays["exc_span_count"])
    p0 = int(counts[:k0].sum(dtype=np.int64))
    p1 = p0 + int(counts[k0:k1].sum(dtype=np.int64))
    return EncodedFeatures(tokens=ragged(arrays["tokens"], arrays["lengths"]),
                           lengths=arrays["lengths"][lo:hi],
                           label_start=arrays["label_start"][lo:hi],
                           exc_local=exc[k0:k1] - lo, exc_span_count=counts[k0:k1],
                           exc_spans=arrays["exc_spans"][p0:p1],
                           exc_weights=arrays["exc_weights"][p0:p1])


def save_part(parts: Path, index: int, arrays: dict) -> None:
    import numpy as np

    from dialogpt.fileio import atomic_write

    if not parts.is_dir():  # the driver gave up and removed its temporary directory
        raise RuntimeError(f"{parts} is gone: the build was abandoned")
    for name, values in arrays.items():
        with atomic_write(parts / f"{index:05d}.{name}.npy", "wb") as handle:
            np.save(handle, values)


def load_part(parts: Path, index: int, kind: str) -> dict:
    import numpy as np

    names = (["tokens", "lengths", "target_tokens", "target_lengths"] if kind == "seq2seq" else
             ["tokens", "lengths", "label_start", "exc_local", "exc_span_count", "exc_spans",
              "exc_weights"])
    return {name: np.load(parts / f"{index:05d}.{name}.npy", mmap_mode="r") for name in names}


# --- the tasks -------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class RangeJob:
    index: int
    corpus: str
    start: int
    end: int
    first_line: int
    n_lines: int
    parts: str
    chunk_lines: int


def kind_of(config) -> str:
    from dialogpt.data.pipeline import FeatureConfig

    return "causal" if isinstance(config, FeatureConfig) else "seq2seq"


def _stage(kind: str):
    """``(chunk stage, summary class)`` of a DB kind."""
    from dialogpt.data.prepro_chunks import stage_for
    from dialogpt.data.prepro_summary import summary_class_for

    return stage_for(kind), summary_class_for(kind)


def _node_id() -> str:
    import ray

    return ray.get_runtime_context().get_node_id() if ray.is_initialized() else "local"


def encode_range(job: RangeJob, encoder, config) -> dict:
    """Encode one byte range into its part files; what the driver needs from it (counts per
    chunk, the summary with global line numbers, the first malformed line, the node)."""
    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    started = time.perf_counter()
    kind = kind_of(config)
    stage, summary_class = _stage(kind)
    with open(job.corpus, "rb") as handle:
        handle.seek(job.start)
        data = handle.read(job.end - job.start)
    summary, encoded, rows, malformed = summary_class(), [], [], None
    for first, raw_lines in aligned_chunks(io.BytesIO(data), job.first_line, job.chunk_lines):
        result = stage.process_chunk(first, raw_lines, encoder, config)
        summary.add(result)
        encoded.append(result.encoded)
        rows.append(((first - 1) // job.chunk_lines, result.encoded.n_examples,
                     len(result.encoded.tokens), len(getattr(result.encoded, "target_tokens", ()))))
        malformed = malformed or summary_class.first_malformed(result.skips)
    if summary.lines_read != job.n_lines:
        raise RuntimeError(f"{job.corpus} changed while it was read: bytes {job.start}-{job.end} "
                           f"hold {summary.lines_read} lines, {job.n_lines} when counted")
    save_part(Path(job.parts), job.index, concat_encoded(encoded))
    return {"range": job.index, "node_id": _node_id(),
            "host": socket.gethostname(), "pid": os.getpid(), "lines": job.n_lines,
            "bytes": job.end - job.start, "examples": sum(row[1] for row in rows),
            "rows": rows, "summary": summary, "malformed": malformed,
            "seconds": round(time.perf_counter() - started, 3)}


def write_shard(directory: str, number: int, pieces: list, parts: str, kind: str,
                token_dtype: str, length_dtype: str) -> dict:
    """Write shard ``number`` from its range slices; its manifest entry (counts, files)."""
    from dialogpt.data.db import ShardWriter

    writer = ShardWriter(Path(directory), token_dtype, length_dtype, _NO_CLOSE, kind=kind,
                         first_shard=number)
    for index, lo, hi in pieces:
        writer.add(slice_encoded(load_part(Path(parts), index, kind), lo, hi, kind))
    [shard] = writer.close_shards()
    return shard


# --- the driver ------------------------------------------------------------------------------

def merge_summary(total, part) -> None:
    """Add a range's summary to ``total`` (ranges in corpus order)."""
    from dialogpt.data.skips import FIRST_LINES_KEPT, SkippedLines

    for field in dataclasses.fields(total):
        mine, theirs = getattr(total, field.name), getattr(part, field.name)
        if isinstance(mine, int):
            setattr(total, field.name, mine + theirs)
        elif isinstance(mine, SkippedLines):
            for reason, entry in theirs.reasons.items():
                into = mine.reasons.setdefault(reason, {"count": 0, "first_lines": []})
                into["count"] += entry["count"]
                into["first_lines"] = (into["first_lines"] + entry["first_lines"]
                                       )[:FIRST_LINES_KEPT]
        else:
            mine.add(theirs)


def _failure(error: Exception, what: str) -> UserError:
    return UserError(f"{what} failed: {task_error(error)}")


def _encode_all(ray, jobs: list[RangeJob], encoder, config, max_retries: int) -> list[dict]:
    """Run the encode tasks, showing bytes done and lines/s across the cluster."""
    from tqdm import tqdm

    task = ray.remote(max_retries=max_retries, retry_exceptions=False, num_cpus=1)(encode_range)
    encoder_ref, config_ref = ray.put(encoder), ray.put(config)
    pending = {task.options(scheduling_strategy="SPREAD").remote(job, encoder_ref, config_ref):
               job for job in jobs}
    results, lines, started = [], 0, time.perf_counter()
    with tqdm(total=sum(job.end - job.start for job in jobs), unit="B", unit_scale=True,
              desc="prepro (ray)", disable=None, leave=False) as bar:
        while pending:
            [ready], _ = ray.wait(list(pending), num_returns=1)
            job = pending.pop(ready)
            try:
                results.append(ray.get(ready))
            except Exception as error:  # retries exhausted, or a fault in the code
                raise _failure(error, f"encoding {job.corpus} bytes {job.start}-{job.end} "
                               f"(lines {job.first_line}-{job.first_line + job.n_lines - 1})")
            lines += job.n_lines
            bar.update(job.end - job.start)
            bar.set_postfix(lines_per_s=f"{lines / (time.perf_counter() - started):.0f}")
    return sorted(results, key=lambda row: row["range"])


def _check_strict(corpus: Path, results: list[dict], meanings: dict) -> None:
    from dialogpt.data.prepro_build import malformed_error

    for result in results:
        if result["malformed"]:
            raise malformed_error(corpus, result["malformed"], meanings)


def placement_lines(results: list[dict]) -> list[str]:
    """One line per node: which ranges it encoded, lines, bytes and task seconds."""
    return [f"node {node[:12]} ({rows[0]['host']}): {len(rows)} ranges "
            f"({', '.join(str(row['range']) for row in rows)}), "
            f"{sum(row['lines'] for row in rows)} lines, "
            f"{sum(row['bytes'] for row in rows) / 1e6:.1f} MB, "
            f"{sum(row['seconds'] for row in rows):.1f} task-s"
            for node, rows in rows_by_node(results).items()]


def write_shards(directory: Path, corpus: Path, encoder, config, workers: int, strict: bool,
                 chunk_lines: int, shard_tokens: int, *, options: RayOptions):
    """The Ray counterpart of ``prepro_build.write_local_shards``: ``(ShardWriter, summary)``; the
    writer holds the shard table, :meth:`ShardWriter.finish` writes the manifest."""
    from dialogpt.data.db import ShardWriter

    ray = import_ray(*NEEDS_RAY)
    kind, corpus, directory = kind_of(config), Path(corpus).resolve(), Path(directory).resolve()
    summary_class = _stage(kind)[1]
    parts = directory / PARTS
    parts.mkdir()
    clock = [time.perf_counter()]
    owned = connect(ray, options.address)
    try:
        clock.append(time.perf_counter())
        results = _run_ranges(ray, corpus, parts, encoder, config, chunk_lines, options)
        clock.append(time.perf_counter())
        if strict:
            _check_strict(corpus, results, summary_class.skip_reasons)
        ends = shard_ends(merge_chunk_rows(row for result in results for row in result["rows"]),
                          shard_tokens)
        shards = _write_all_shards(ray, directory, parts, kind, config, results, ends,
                                   options.max_retries)
        clock.append(time.perf_counter())
        nodes = len(ray.nodes())
    finally:
        if owned:
            ray.shutdown()
    shutil.rmtree(parts)
    summary = summary_class()
    for result in results:
        merge_summary(summary, result["summary"])
    _report(directory, results, nodes, dict(zip(("connect_s", "count_and_encode_s", "shards_s"),
                                                (b - a for a, b in zip(clock, clock[1:])))))
    writer = ShardWriter(directory, config.token_dtype, config.length_dtype, shard_tokens, kind)
    writer.shards = shards
    return writer, summary


def _run_ranges(ray, corpus: Path, parts: Path, encoder, config, chunk_lines: int,
                options: RayOptions) -> list[dict]:
    """Count the lines of each range, then encode the ranges; their results in corpus order."""
    ranges = split_ranges(corpus, options.range_bytes)
    counter = ray.remote(max_retries=options.max_retries, num_cpus=1)(count_lines)
    counts = ray.get([counter.remote(str(corpus), start, end) for start, end in ranges])
    jobs, first = [], 1
    for index, ((start, end), n_lines) in enumerate(zip(ranges, counts)):
        jobs.append(RangeJob(index, str(corpus), start, end, first, n_lines, str(parts),
                             chunk_lines))
        first += n_lines
    return _encode_all(ray, jobs, encoder, config, options.max_retries)


def _write_all_shards(ray, directory: Path, parts: Path, kind: str, config, results: list[dict],
                      ends: list[int], max_retries: int) -> list[dict]:
    task = ray.remote(max_retries=max_retries, retry_exceptions=False, num_cpus=1)(write_shard)
    pieces = shard_pieces([result["examples"] for result in results], ends)
    refs = [task.options(scheduling_strategy="SPREAD").remote(
        str(directory), number, shard, str(parts), kind, config.token_dtype, config.length_dtype)
        for number, shard in enumerate(pieces)]
    try:
        return ray.get(refs)
    except Exception as error:
        raise _failure(error, f"writing the shards of {directory}")


def _report(directory: Path, results: list[dict], nodes: int, seconds: dict) -> None:
    """Print the per-node lines and keep them in ``cluster_run.json`` next to the summary."""
    from dialogpt.fileio import atomic_write

    lines = placement_lines(results)
    run = {"executor": "ray", "nodes_in_cluster": nodes,
           **{key: round(value, 3) for key, value in seconds.items()},
           "nodes": lines,
           "ranges": [{key: row[key] for key in ("range", "node_id", "host", "lines", "bytes",
                                                 "examples", "seconds")} for row in results]}
    with atomic_write(directory / "cluster_run.json") as handle:
        handle.write(json.dumps(run, indent=1) + "\n")
    for line in lines:
        print(line)
