"""The extractor's months as Ray tasks: ``make train EXECUTOR=ray`` (or this module's CLI).

``python -m dialogpt.extraction.cluster train --months "2011-01 2011-02" --dumps S --keys K
--work T --data DATA [--ignore_keys] [--ray_address HOST:PORT]``

The unit of work is one month: the extract step, then the conversation step, the same functions
the Makefile runs (``extract_month``, ``convert_month``), each month in one Ray task; the months
are dealt over the cluster's nodes, largest first. The driver then merges the months (``merge``), writes the run summary and,
for ``refs``, the multi-reference file. Dumps, key files and the work folder must be paths that
every node sees (a shared filesystem); outputs are written atomically there, so a month a failed
task left half-done is invisible and is simply redone.

Re-runs skip a month whose outputs and job record (``T/SIDE/conv/MONTH.job.json``: dumps, keys,
blocklists and rules) are present and match, as ``make`` skips a month whose outputs are newer
than its inputs. A task whose worker process or node dies is retried by Ray (``--max_retries``);
a month that fails for a data reason (a truncated dump, a missing file) fails the run with the
month and the reason, after every other month has finished and kept its outputs.

``RAY_ADDRESS`` (or ``--ray_address``) joins an existing cluster; without it Ray starts locally.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import socket
import time
from pathlib import Path
from typing import Any

from dialogpt.cli import UserError, check_paths, run_main, setup_logging
from dialogpt.config import build_parser as build_config_parser
from dialogpt.config import parse_config
from dialogpt.extraction.cluster_config import ClusterConfig
from dialogpt.extraction.instances import ConvOptions
from dialogpt.fileio import atomic_write
from dialogpt.ray_support import connect, import_ray, rows_by_node, task_error

logger = logging.getLogger(__name__)

@dataclasses.dataclass(frozen=True)
class MonthJob:
    """Everything that decides one month's outputs (recorded in ``MONTH.job.json``)."""

    side: str
    month: str
    dumps: str
    work: str
    keep_keys: str | None = None
    discard_keys: str | None = None
    ignore_keys: bool = False
    bl_words: str | None = None
    bl_subreddits: str | None = None
    options: dict = dataclasses.field(default_factory=dict)
    conv_workers: int = 1

    @property
    def conv_dir(self) -> Path:
        return Path(self.work) / self.side / "conv"

    @property
    def record_path(self) -> Path:
        return self.conv_dir / f"{self.month}.job.json"

    def outputs(self) -> list[Path]:
        return [self.conv_dir / f"{self.month}.tsv.gz", self.conv_dir / f"{self.month}.report.json"]

    def record(self) -> dict:
        """The job and the identity (size, mtime) of every input file it reads."""
        from dialogpt.extraction.readers import find_dump

        files = [find_dump(self.dumps, kind, self.month) for kind in ("RS", "RC")]
        keys = () if self.ignore_keys else (self.keep_keys, self.discard_keys)
        files += [Path(path) for path in (*keys, self.bl_words, self.bl_subreddits) if path]
        identity = {str(path): _identity(path) for path in files}
        return {"job": dataclasses.asdict(self) | {"conv_workers": None}, "inputs": identity}

    def is_done(self) -> bool:
        if not all(path.is_file() for path in [*self.outputs(), self.record_path]):
            return False
        try:
            return json.loads(self.record_path.read_text(encoding="utf-8")) == self.record()
        except (OSError, ValueError):  # a missing input: the task will say which
            return False


def _identity(path: Path) -> list:
    stat = path.stat()
    return [stat.st_size, stat.st_mtime_ns]


def run_month(job: MonthJob) -> dict[str, Any]:
    """Extract and convert one month; returns what the driver reports (counts, node, seconds)."""
    import ray

    from dialogpt.extraction.conv import build_filters, convert_month
    from dialogpt.extraction.extract import extract_month
    from dialogpt.extraction.keys import load_pair_keys

    start = time.perf_counter()
    record = job.record()
    dep_keys = None if job.ignore_keys or not job.keep_keys else load_pair_keys(job.keep_keys,
                                                                                "dep")
    side_dir = Path(job.work) / job.side
    extract_report = extract_month(job.month, job.dumps, side_dir / "extract", dep_keys)
    filters = build_filters(job.keep_keys, job.discard_keys, job.ignore_keys, job.bl_words,
                            job.bl_subreddits)
    report = convert_month(job.month, side_dir / "extract", job.conv_dir,
                           ConvOptions(**job.options), filters, job.conv_workers)
    with atomic_write(job.record_path) as handle:
        handle.write(json.dumps(record, indent=1) + "\n")
    return {"month": job.month, "node_id": ray.get_runtime_context().get_node_id(),
            "host": socket.gethostname(), "pid": os.getpid(),
            "comments": extract_report["comments"]["lines"],
            "instances": report["conv"]["instances"],
            "seconds": round(time.perf_counter() - start, 3)}


def _dump_bytes(job: MonthJob) -> int:
    from dialogpt.extraction.readers import find_dump

    try:
        return sum(find_dump(job.dumps, kind, job.month).stat().st_size for kind in ("RS", "RC"))
    except OSError:
        return 0  # the task will report the missing dump


def deal_to_nodes(jobs: list[MonthJob], nodes: list[str]) -> list[tuple[MonthJob, str]]:
    """Largest months first, dealt round-robin over the nodes (balanced like LPT scheduling)."""
    ordered = sorted(jobs, key=_dump_bytes, reverse=True)
    return [(job, nodes[index % len(nodes)]) for index, job in enumerate(ordered)]


def run_months(jobs: list[MonthJob], max_retries: int = 3) -> tuple[list[dict], dict[str, str]]:
    """Run the months that are not done as Ray tasks over the nodes; wait for all of them.

    Each month is pinned softly to a node (:func:`deal_to_nodes`): it runs there, or anywhere
    when that node is gone (a retry after a node failure included). Returns the placements of the
    months that ran and ``{month: reason}`` of those that failed. Progress: months done / total
    and comments per second across the cluster.
    """
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy
    from tqdm import tqdm

    todo = [job for job in jobs if not job.is_done()]
    if len(todo) < len(jobs):
        logger.info("%d of %d months already done (outputs and job record match): skipped",
                    len(jobs) - len(todo), len(jobs))
    nodes = [node["NodeID"] for node in ray.nodes()
             if node["Alive"] and node["Resources"].get("CPU", 0) >= 1]
    task = ray.remote(max_retries=max_retries, retry_exceptions=False, num_cpus=1)(run_month)
    pending = {task.options(scheduling_strategy=NodeAffinitySchedulingStrategy(node, soft=True))
               .remote(job): job.month for job, node in deal_to_nodes(todo, nodes)}
    placements, failures, comments = [], {}, 0
    start = time.perf_counter()
    with tqdm(total=len(jobs), initial=len(jobs) - len(todo), unit="month",
              desc="months") as bar:
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            month = pending.pop(ready[0])
            try:
                placement = ray.get(ready[0])
            except Exception as error:  # a data fault inside the month, or retries exhausted
                failures[month] = task_error(error)
                logger.error("month %s failed: %s", month, failures[month])
            else:
                placements.append(placement)
                comments += placement["comments"]
            bar.update(1)
            bar.set_postfix(comments_per_s=f"{comments / (time.perf_counter() - start):.0f}")
    return sorted(placements, key=lambda row: row["month"]), failures


def _up_to_date(outputs: list[Path], inputs: list[Path]) -> bool:
    """``make``'s rule: every output exists and is newer than every input."""
    if not all(path.is_file() for path in outputs):
        return False
    newest_input = max((path.stat().st_mtime_ns for path in inputs), default=0)
    return min(path.stat().st_mtime_ns for path in outputs) >= newest_input


def finish_side(side: str, jobs: list[MonthJob], work: Path, data: Path, valid_fraction: float,
                multiref_ids: str | None) -> dict:
    """Merge the months on the driver (as the Makefile's merge, summary and refs rules do)."""
    from dialogpt.extraction.merge import merge
    from dialogpt.extraction.multiref import build_multiref
    from dialogpt.extraction.summary import format_table, summarise

    month_files = [job.conv_dir / f"{job.month}.tsv.gz" for job in jobs]
    reports = [json.loads(job.outputs()[1].read_text(encoding="utf-8")) for job in jobs]
    summary = summarise(reports)
    print(format_table(reports))
    summary_side = "train" if side == "train" else "test"
    with atomic_write(work / summary_side / "summary.json") as handle:
        handle.write(json.dumps(summary, indent=1) + "\n")
    if side == "train":
        outputs = [data / "train.tsv", data / "valid.tsv"]
        if not _up_to_date(outputs, month_files):
            merge(month_files, outputs[0], outputs[1], valid_fraction)
        return summary
    with_ids = work / "test.tsv.gz"
    if not _up_to_date([with_ids], month_files):
        merge(month_files, None, with_ids=with_ids)
    if side == "test" and not _up_to_date([data / "test.tsv"], [with_ids]):
        merge([with_ids], data / "test.tsv")
    if side == "refs":
        if not multiref_ids:
            raise UserError("refs needs --multiref_ids (the released test-multi-refs-ids.txt)")
        build_multiref(with_ids, Path(multiref_ids), data / "test.refs.txt",
                       data / "test.scored_refs.txt")
    return summary


def placement_lines(placements: list[dict]) -> list[str]:
    """One line per node: which months it ran and how many comments it read."""
    return [f"node {node[:12]} ({rows[0]['host']}): {len(rows)} months "
            f"({', '.join(row['month'] for row in rows)}), "
            f"{sum(row['comments'] for row in rows)} comments"
            for node, rows in rows_by_node(placements).items()]


def jobs_for(config: ClusterConfig) -> list[MonthJob]:
    """The month jobs of ``config.side`` with the Makefile's per-side settings."""
    side, months = config.side, config.month_list
    options = dataclasses.asdict(ConvOptions(
        min_depth=config.min_depth, max_depth=config.max_depth, min_score=config.min_score,
        use_title=config.use_title, leaves_only=config.leaves_only if side == "train" else False))
    if side == "train":
        return [MonthJob("train", month, config.dumps, config.work,
                         keep_keys=str(Path(config.keys) / f"{month}.gz"),
                         discard_keys=str(Path(config.keys) / f"{month}-o.gz"),
                         ignore_keys=config.ignore_keys, bl_words=config.bl_words,
                         bl_subreddits=config.bl_subreddits, options=options,
                         conv_workers=config.conv_workers) for month in months]
    return [MonthJob("test", month, config.dumps, config.work, keep_keys=config.keys_test,
                     ignore_keys=config.test_ignore_keys, options=options,
                     conv_workers=config.conv_workers) for month in months]


def build_parser():
    return build_config_parser(ClusterConfig, "python -m dialogpt.extraction.cluster", __doc__)


def main(argv=None) -> int:
    config = parse_config(ClusterConfig, build_parser(), argv)
    setup_logging(config.verbose)
    check_paths(output_dirs={"--work": config.work})
    jobs, months = jobs_for(config), config.month_list
    start = time.perf_counter()
    ray = import_ray("EXECUTOR=ray")
    owned = connect(ray, config.ray_address)
    try:
        placements, failures = run_months(jobs, config.max_retries)
        nodes = len(ray.nodes())
    finally:
        if owned:
            ray.shutdown()
    work, side_dir = Path(config.work), "train" if config.side == "train" else "test"
    run = {"executor": "ray", "nodes_in_cluster": nodes, "months": months,
           "placements": placements, "failures": failures,
           "seconds": round(time.perf_counter() - start, 3)}
    with atomic_write(work / side_dir / "cluster_run.json") as handle:
        handle.write(json.dumps(run, indent=1) + "\n")
    for line in placement_lines(placements):
        print(line)
    if failures:
        raise UserError(f"{len(failures)} of {len(months)} months failed; the others kept their "
                        "outputs and a re-run redoes only the failed ones:\n" + "\n".join(
                            f"  {month}: {reason}" for month, reason in sorted(failures.items())))
    summary = finish_side(config.side, jobs, work, Path(config.data), config.valid_fraction,
                          config.multiref_ids)
    print(f"total: {summary['comments_read']} comments read, {summary['instances']} instances in "
          f"{summary['months']} months ({run['seconds']:.1f} s on {nodes} nodes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(run_main(main))
