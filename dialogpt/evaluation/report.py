"""Text renderings of scores: the headline table, the per-system report, the summary TSV; what a\nrun reports (``Evaluation``)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Mapping, Sequence

from dialogpt.evaluation.mteval import SegmentStats, bleu_scores, nist_scores
from dialogpt.evaluation.scoring import METRIC_KEYS, PreparedSystem, Scores

# (column title, metric key, shown as a percentage), as in the DialoGPT README tables.
HEADLINE = (("NIST2", "nist2", False), ("NIST4", "nist4", False), ("BLEU2", "bleu2", True),
            ("BLEU4", "bleu4", True), ("METEOR", "meteor", True), ("Ent-4", "entropy4", False),
            ("Dist-1", "dist1", True), ("Dist-2", "dist2", True), ("Avg.Len", "avg_len", False))


@dataclass
class Evaluation:
    """What one ``batch_eval.py`` run reports.

    ``metrics``: what ``--json`` prints, one system's metrics (``--hyp``) or ``{name: metrics}``
    (``--input_dir``); ``table``: what is printed without ``--json``; ``failed``: one message per
    file of ``--input_dir`` that could not be scored (the others were)."""

    metrics: dict
    table: str
    failed: list[str] = field(default_factory=list)


def _cell(value: float | None, percent: bool) -> str:
    if value is None:
        return "n/a"
    return f"{100 * value:.2f}%" if percent else f"{value:.4f}"


def headline_table(rows: Sequence[tuple[str, Scores]]) -> str:
    """A markdown table of the headline metrics, one row per named system."""
    header = ["System", *(title for title, _, _ in HEADLINE)]
    body = []
    for name, scores in rows:
        values = scores.as_dict()
        body.append([name, *(_cell(values[key], percent) for _, key, percent in HEADLINE)])
    widths = [max(len(row[i]) for row in [header, *body]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(cell.ljust(width) for cell, width in zip(cells, widths)) + " |"

    separator = "|" + "|".join("-" * (width + 2) for width in widths) + "|"
    return "\n".join([line(header), separator, *(line(row) for row in body)])


def system_report(name: str, scores: Scores, settings: Mapping[str, object]) -> str:
    """Every metric of one system, in the order and naming of the official scorer's printout."""
    values = scores.as_dict()
    setting_text = ", ".join(f"{key}={value}" for key, value in settings.items())
    meteor = "n/a (METEOR unavailable)" if scores.meteor is None else repr(scores.meteor)
    return "\n".join([
        f"system: {name}",
        f"settings: {setting_text}",
        f"n_lines = {scores.n_lines}",
        f"NIST = {list(scores.nist)}",
        f"BLEU = {list(scores.bleu)}",
        f"METEOR = {meteor}",
        f"entropy = {list(scores.entropy)}",
        f"diversity = {list(scores.dist)}",
        f"avg_len = {scores.avg_len!r}",
        "",
        headline_table([(name, scores)]),
        "",
        "json: " + json.dumps(values),
        ""])


def summary_tsv(rows: Sequence[tuple[str, Scores]]) -> str:
    """All metrics side by side: one TSV row per system (``fname`` first, as the original)."""
    lines = ["\t".join(["fname", *METRIC_KEYS])]
    for name, scores in rows:
        values = scores.as_dict()
        lines.append("\t".join([name, *("" if values[k] is None else str(values[k])
                                        for k in METRIC_KEYS)]))
    return "\n".join(lines) + "\n"


def per_segment_tsv(system: PreparedSystem, stats: Sequence[SegmentStats], n_streams: int) -> str:
    """Segment-level mteval scores (as ``mteval -d 2`` computes them) next to each hypothesis."""
    lines = ["\t".join(["key", "hyp_words", "closest_ref_words", "bleu4", "nist4", "hypothesis"])]
    for key, hypothesis, segment in zip(system.keys, system.hypotheses, stats):
        lines.append("\t".join([key, str(segment.hyp_ngrams[0]), str(segment.closest_ref_length),
                                f"{bleu_scores(segment)[3]:.4f}",
                                f"{nist_scores(segment, n_streams)[3]:.4f}",
                                hypothesis.replace("\t", " ")]))
    return "\n".join(lines) + "\n"
