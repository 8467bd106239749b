"""``batch_eval.py --refs X.jsonl``: GODEL's metrics, and the DSTC-7 ones, against JSONL records.

    python batch_eval.py --refs test.jsonl --hyp test.resp.txt
    python batch_eval.py --refs test.jsonl --input_dir outputs/ --json

The hypothesis file has one line per line of the references file (what ``generate.py`` writes for
a JSONL input); records without a usable ``Response`` are left out and counted. Scored: GODEL's
BLEU (a fraction) and ROUGE-1/2/L/Lsum (x 100), unigram F1 against the response and against the
record's knowledge (:mod:`dialogpt.evaluation.grounded_metrics`), and the DSTC-7 metrics of the
same pairs (NIST, BLEU as mteval computes it, METEOR, entropy, distinct; one reference each).

With a task (``--task``, or the ``task`` of the converter's ``convert.json`` beside the
references) the table is that task's: CoQA adds the official exact match and F1, MultiWOZ the
dialog-act F1 and the text's BLEU (and says why Inform/Success are not computed); see
:mod:`dialogpt.evaluation.task_metrics`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

from dialogpt.evaluation import inputs
from dialogpt.evaluation.report import Evaluation

REFERENCE_SUFFIXES = (".jsonl", ".json")
# (column title, key, shown as a percentage)
HEADLINE = (("BLEU", "bleu", True), ("ROUGE-1", "rouge1", False), ("ROUGE-2", "rouge2", False),
            ("ROUGE-L", "rougeL", False), ("ROUGE-Lsum", "rougeLsum", False),
            ("F1", "f1", True), ("Knowledge F1", "knowledge_f1", True))


def is_jsonl_references(path: str | Path, fmt: str = "auto") -> bool:
    """``--refs_format jsonl``, or ``auto`` and a ``.jsonl``/``.json`` file name."""
    if fmt != "auto":
        return fmt == "jsonl"
    return Path(path).suffix.lower() in REFERENCE_SUFFIXES


def dstc_inputs(references: inputs.GroundedReferences, hypotheses: Sequence[str], name: str):
    """The records as DSTC-7 inputs (key = line number, one reference each)."""
    keys = [str(line) for line in references.lines]
    refs = inputs.References(references.path,
                             {key: [text] for key, text in zip(keys, references.responses)},
                             {key: line for key, line in zip(keys, references.lines)})
    hyps = inputs.Hypotheses(Path(name), dict(zip(keys, hypotheses)),
                             {key: line for key, line in zip(keys, references.lines)})
    return refs, hyps, keys


def task_of(refs: str | Path, task: str | None) -> str | None:
    """``task`` when given, else the ``task`` recorded in ``convert.json`` beside ``refs``."""
    if task:
        return task
    record = Path(refs).with_name("convert.json")
    try:
        found = json.loads(record.read_text(encoding="utf-8")).get("task")
    except (OSError, ValueError, AttributeError):
        return None
    from dialogpt.evaluation.task_metrics import TASKS

    return found if found in TASKS else None


def score_system(references: inputs.GroundedReferences, hypotheses: Sequence[str], name: str,
                 *, dstc: bool = True, clean: bool = False, compat: str = "dialogpt",
                 meteor_setup=None, task: str | None = None):
    """``(GODEL's metrics and the task's as a dict, the DSTC-7 Scores or None)`` of one system."""
    from dialogpt.evaluation.grounded_metrics import grounded_scores
    from dialogpt.evaluation.task_metrics import task_scores

    scores = grounded_scores(hypotheses, [[text] for text in references.responses],
                             references.knowledge)
    if task:
        scores.update({"task": task, **task_scores(task, hypotheses, references.responses)})
    scores["n_lines_skipped"] = references.n_lines - len(references.lines)
    if not dstc:
        return scores, None
    from dialogpt.evaluation.meteor import meteor_scores
    from dialogpt.evaluation.scoring import DstcScorer

    refs, hyps, keys = dstc_inputs(references, hypotheses, name)
    scorer = DstcScorer(refs, n_refs=1, vshuman=-1, clean=clean, compat=compat)
    system = scorer.prepare(name, hyps, keys)
    (meteor,) = meteor_scores(meteor_setup, [system])
    return scores, scorer.score(system, meteor)


def _cell(value, percent: bool) -> str:
    if value is None:
        return "n/a"
    return f"{100 * value:.2f}" if percent else f"{value:.2f}"


def headline_table(rows: Sequence[tuple[str, dict]], task: str | None = None) -> str:
    """A markdown table of GODEL's headline metrics and ``task``'s own (all x 100), one row per
    system."""
    from dialogpt.evaluation.task_metrics import TASK_COLUMNS

    columns = (*HEADLINE, *TASK_COLUMNS.get(task, ()))
    header = ["System", *(title for title, _, _ in columns)]
    body = [[name, *(_cell(scores.get(key), percent) for _, key, percent in columns)]
            for name, scores in rows]
    widths = [max(len(row[i]) for row in [header, *body]) for i in range(len(header))]

    def line(cells):
        return "| " + " | ".join(cell.ljust(width) for cell, width in zip(cells, widths)) + " |"

    separator = "|" + "|".join("-" * (width + 2) for width in widths) + "|"
    return "\n".join([line(header), separator, *(line(row) for row in body)])


def score_files(refs: str | Path, hyp_files: Sequence[Path], names: Sequence[str], *,
                diagnostics: inputs.Diagnostics, single: bool, dstc: bool, clean: bool,
                compat: str, meteor_setup, output_dir: Path | None = None,
                task: str | None = None) -> Evaluation:
    """Score every hypothesis file against the JSONL ``refs`` (writing a report of each into
    ``output_dir``, if given). ``single``: one system (``--hyp``), whose error is raised and whose
    metrics are returned bare, not by name."""
    from dialogpt.cli import UserError
    from dialogpt.fileio import atomic_write

    references = inputs.read_grounded_references(refs, diagnostics)
    rows, failed = [], []
    for path, name in zip(hyp_files, names):
        try:
            hypotheses = inputs.read_aligned_hypotheses(path, references)
        except UserError as exc:
            if single:
                raise
            failed.append(str(exc))
            continue
        scores, dstc_scores = score_system(references, hypotheses, name, dstc=dstc, clean=clean,
                                           compat=compat, meteor_setup=meteor_setup, task=task)
        rows.append((name, scores, dstc_scores))
        if output_dir is not None:
            with atomic_write(output_dir / f"{name}.grounded.json") as handle:
                handle.write(json.dumps(_as_json(scores, dstc_scores)) + "\n")
    metrics = {name: _as_json(scores, d) for name, scores, d in rows}
    return Evaluation(next(iter(metrics.values())) if single else metrics,
                      _printout(rows, references, task, dstc), failed)


def _printout(rows, references: inputs.GroundedReferences, task: str | None, dstc: bool) -> str:
    """The tables printed without ``--json`` (empty when nothing was scored)."""
    if not rows:
        return ""
    lines = [f"Task: {task}"] if task else []
    lines.append(headline_table([(name, scores) for name, scores, _ in rows], task))
    if task == "multiwoz":
        from dialogpt.evaluation.task_metrics import MULTIWOZ_INFORM_SUCCESS_NOTE

        lines.append(MULTIWOZ_INFORM_SUCCESS_NOTE)
    if dstc:
        from dialogpt.evaluation.report import headline_table as dstc_table

        lines += ["\nDSTC-7 metrics of the same pairs (one reference each):",
                  dstc_table([(name, d) for name, _, d in rows])]
    skipped = references.n_lines - len(references.lines)
    lines.append(f"({len(references.lines)} records scored, {skipped} reference lines skipped; "
                 "BLEU and F1 x 100; --json prints every metric)")
    return "\n".join(lines)


def _as_json(scores: dict, dstc_scores) -> dict:
    return {**scores, "dstc": dstc_scores.as_dict()} if dstc_scores is not None else scores
