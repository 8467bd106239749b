"""Run summary: add up the per-month reports of the conversation step.

``python -m dialogpt.extraction.summary T/train/conv/*.report.json --out T/train/summary.json``
prints one line per month (comments read and kept, instances, seconds) and a total, and writes
the totals with every skip reason added up.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from dialogpt.cli import UserError, check_paths, run_main
from dialogpt.config import build_parser as build_config_parser
from dialogpt.config import flag, parse_config
from dialogpt.fileio import atomic_write


def summarise(reports: list[dict]) -> dict:
    totals: Counter = Counter()
    skipped = {"submissions": Counter(), "comments": Counter(), "conv": Counter()}
    for report in reports:
        extract, conv = report["extract"], report["conv"]
        totals["months"] += 1
        totals["submissions_read"] += extract["submissions"]["lines"]
        totals["submissions_kept"] += extract["submissions"]["kept"]
        totals["comments_read"] += extract["comments"]["lines"]
        totals["comments_kept"] += extract["comments"]["kept"]
        totals["instances"] += conv["instances"]
        totals["target_tokens"] += round(conv["avg_target_tokens"] * conv["instances"])
        skipped["submissions"].update(extract["submissions"]["skipped"])
        skipped["comments"].update(extract["comments"]["skipped"])
        skipped["conv"].update(conv["skipped"])
    summary = dict(totals)
    summary["avg_target_tokens"] = (round(totals["target_tokens"] / totals["instances"], 3)
                                    if totals["instances"] else 0.0)
    summary["skipped"] = {name: dict(sorted(counter.items())) for name, counter in skipped.items()}
    summary["damaged_months"] = damaged_months(reports)
    return summary


def damaged_months(reports: list[dict]) -> dict[str, str]:
    """``{month: what looks damaged}`` for months whose dumps had a burst of malformed lines."""
    damaged = {}
    for report in reports:
        parts = []
        for side in ("submissions", "comments"):
            section = report["extract"][side]
            if section.get("damaged"):
                region = section.get("malformed_region", {})
                parts.append(f"{Path(section['file']).name}: "
                             f"{section['skipped'].get('malformed_json', 0)} malformed lines, "
                             f"from line {region.get('first_line')} (decompressed byte "
                             f"{region.get('decompressed_byte')}, within compressed bytes "
                             f"{region.get('compressed_from')}-{region.get('compressed_to')})")
        if parts:
            damaged[report["month"]] = "; ".join(parts)
    return damaged


def format_table(reports: list[dict]) -> str:
    rows = [f"{'month':8} {'comments':>10} {'kept':>10} {'instances':>10} {'seconds':>8}"]
    for report in reports:
        extract, conv = report["extract"], report["conv"]
        seconds = extract["seconds"] + conv["seconds"]
        rows.append(f"{report['month']:8} {extract['comments']['lines']:>10} "
                    f"{extract['comments']['kept']:>10} {conv['instances']:>10} {seconds:>8.1f}")
    return "\n".join(rows)


@dataclass
class SummaryConfig:
    """The months' reports -> one table (and ``out``, the summary JSON)."""

    reports: list[Path] = flag(help="MONTH.report.json files", kind=Path, nargs="+",
                               positional=True)
    out: Path | None = flag(None, "summary JSON to write", kind=Path)


def main(argv=None) -> int:
    config = parse_config(SummaryConfig, build_config_parser(
        SummaryConfig, "python -m dialogpt.extraction.summary", __doc__), argv)
    check_paths(input_files={f"report {i + 1}": path for i, path in enumerate(config.reports)},
                output_files={"--out": config.out})
    reports = []
    for path in config.reports:
        try:
            reports.append(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError) as exc:
            raise UserError(f"cannot read report {path}: {exc}") from exc
    reports.sort(key=lambda report: report["month"])
    summary = summarise(reports)
    print(format_table(reports))
    print(f"total: {summary['comments_read']} comments read, {summary['instances']} instances "
          f"in {summary['months']} months")
    for month, what in summary["damaged_months"].items():
        print(f"warning: {month} looks damaged: {what}; check or re-download its dumps")
    if config.out:
        with atomic_write(config.out) as handle:
            handle.write(json.dumps(summary, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(run_main(main))
