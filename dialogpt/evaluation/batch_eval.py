"""``batch_eval.py``: DSTC-7 metrics identical to the official scorer, without Perl.

NIST-1..4 and BLEU-1..4 reproduce mteval-v14c.pl to the printed 4 decimals, METEOR runs the
official METEOR 1.5 jar (shipped by pycocoevalcap; needs Java), entropy, distinct and average
length are computed on the scored text.

    python batch_eval.py --refs refs.txt --keys keys.2k.txt --hyp submission.txt --clean
    python batch_eval.py --refs test.refs.txt --hyp test.resp.txt --clean --json
    python batch_eval.py --refs refs.txt --keys keys.2k.txt --input_dir outputs/ --clean
    python batch_eval.py --refs test.jsonl --hyp test.resp.txt          (GODEL records)
    python batch_eval.py --refs coqa/valid.jsonl --hyp valid.resp.txt --task coqa

The official DSTC-7 and DialoGPT numbers use --clean (with the defaults --n_refs 6 --vshuman 1).
With --input_dir every *.resp.txt is scored (one JVM for METEOR across all of them) and
eval/NAME.eval.txt, eval/NAME.eval.json and eval/summary.tsv are written.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Sequence

from dialogpt.cli import UserError, setup_logging
from dialogpt.config import build_parser as build_config_parser
from dialogpt.config import parse_config
from dialogpt.evaluation import inputs
from dialogpt.evaluation.eval_config import RESPONSE_SUFFIX, EvalConfig
from dialogpt.evaluation.meteor import MeteorUnavailable, locate_meteor, meteor_scores
from dialogpt.evaluation.report import (Evaluation, headline_table, per_segment_tsv,
                                        summary_tsv, system_report)
from dialogpt.evaluation.scoring import DstcScorer, PreparedSystem
from dialogpt.fileio import atomic_write

logger = logging.getLogger(__name__)


def build_parser():
    """The ``batch_eval.py`` parser: one flag per ``EvalConfig`` field."""
    return build_config_parser(EvalConfig, "batch_eval.py", __doc__)


def vshuman_note(vshuman: int, refs_per_line: list[int]) -> str:
    """What ``--vshuman`` did to the references, for the printed output: reference #N is left
    out only on lines with more than N references (the selection rule of
    ``inputs.select_reference_streams``)."""
    if vshuman < 0:
        return "all references used (--vshuman -1)"
    affected = sum(1 for count in refs_per_line if count > vshuman)
    if not affected:
        most = max(refs_per_line, default=0)
        have = "one reference a line" if most == 1 else f"at most {most} references a line"
        return (f"every reference used ({have}; --vshuman {vshuman} leaves out reference "
                f"#{vshuman}, the human response, only on lines with more than {vshuman})")
    where = ("of each line" if affected == len(refs_per_line)
             else f"of the {affected} of {len(refs_per_line)} lines with more than {vshuman}")
    return (f"reference #{vshuman} (0-based; the human response) {where} left out by "
            f"--vshuman {vshuman}, -1 keeps all")


class _Session:
    """Inputs shared by every system of one run: keys, references and the scorer."""

    def __init__(self, config: EvalConfig, diagnostics: inputs.Diagnostics):
        self.config = config
        self.diagnostics = diagnostics
        keys = inputs.read_keys(config.keys) if config.keys else None
        self.references = inputs.read_references(config.refs, set(keys) if keys else None,
                                                 diagnostics,
                                                 require_scores=config.compat == "official")
        self.keys = set(keys) if keys else set(self.references.texts)
        self.keys_path = config.keys or config.refs
        self._align_keys = None
        self.scorer = DstcScorer(self.references, config.n_refs, config.vshuman, config.clean,
                                 config.compat)

    def align_keys(self) -> list[str]:
        if self._align_keys is None:
            self._align_keys = inputs.read_keys(self.config.align_keys or self.keys_path)
        return self._align_keys

    def prepare(self, path: Path, name: str) -> PreparedSystem:
        fmt = (self.config.format if self.config.format != "auto"
               else inputs.detect_format(path, self.keys))
        if fmt == "dstc":
            hypotheses = inputs.read_dstc_hypotheses(path, self.keys, self.diagnostics)
        else:
            hypotheses = inputs.read_plain_hypotheses(
                path, self.align_keys(), self.config.align_keys or self.keys_path, self.keys,
                self.diagnostics)
        scored = inputs.check_coverage(hypotheses, self.references, self.keys_path,
                                       len(self.keys), self.diagnostics)
        system = self.scorer.prepare(name, hypotheses, scored)
        empty = sum(1 for text in system.hypotheses if not text)
        if empty:
            as_what = ("the word __empty__" if self.config.compat == "official"
                       else "empty segments")
            self.diagnostics.warn(f"empty hypotheses were kept in place; NIST/BLEU score them "
                                  f"as {as_what}", f"{path}: {empty} of {len(scored)}")
        return system

    def vshuman_note(self) -> str:
        texts = self.references.texts
        return vshuman_note(self.config.vshuman, [len(texts[key]) for key in self.keys
                                                  if key in texts])


def _meteor_setup(no_meteor: bool, meteor_jar: str | None):
    """The jar setup, or None (with a warning that says how to fix it)."""
    if no_meteor:
        return None
    try:
        return locate_meteor(meteor_jar)
    except MeteorUnavailable as exc:
        print(f"warning: METEOR unavailable: {exc}; the other metrics follow", file=sys.stderr)
        return None


def _score_one(session: _Session, config: EvalConfig) -> Evaluation:
    path = Path(config.hyp)
    system = session.prepare(path, path.name)
    (meteor,) = meteor_scores(_meteor_setup(config.no_meteor, config.meteor_jar), [system])
    segments = session.scorer.segment_stats(system)
    scores = session.scorer.score(system, meteor, segments)
    if config.per_segment:
        with atomic_write(config.per_segment) as handle:
            handle.write(per_segment_tsv(system, segments, config.n_refs))
    table = (f"{headline_table([(path.name, scores)])}\n({scores.n_lines} hypotheses; "
             f"clean={config.clean}, compat={config.compat}; {session.vshuman_note()}; --json "
             "prints every metric)")
    return Evaluation(scores.as_dict(), table)


def _response_files(input_dir: str) -> tuple[list[Path], list[str]]:
    files = sorted(Path(input_dir).glob(f"*{RESPONSE_SUFFIX}"))
    if not files:
        raise UserError(f"no *{RESPONSE_SUFFIX} file in {input_dir}")
    return files, [path.name[:-len(RESPONSE_SUFFIX)] for path in files]


def _score_folder(session: _Session, config: EvalConfig) -> Evaluation:
    files, names = _response_files(config.input_dir)
    output_dir = _reports_dir(config)
    systems, failed = [], []
    for path, name in zip(files, names):
        try:
            systems.append(session.prepare(path, name))
        except UserError as exc:  # reported at the end; the other systems are still scored
            failed.append(str(exc))
    logger.info("scoring %d systems (METEOR: one JVM for all)", len(systems))
    meteors = meteor_scores(_meteor_setup(config.no_meteor, config.meteor_jar), systems)
    rows = []
    for system, meteor in zip(systems, meteors):
        scores = session.scorer.score(system, meteor)
        rows.append((system.name, scores))
        with atomic_write(output_dir / f"{system.name}.eval.txt") as handle:
            handle.write(system_report(system.name, scores, config.settings()))
        with atomic_write(output_dir / f"{system.name}.eval.json") as handle:
            handle.write(json.dumps(scores.as_dict()) + "\n")
    table = ""
    if rows:
        with atomic_write(output_dir / "summary.tsv") as handle:
            handle.write(summary_tsv(rows))
        table = f"{headline_table(rows)}\n(reports in {output_dir}; {session.vshuman_note()})"
    return Evaluation({name: scores.as_dict() for name, scores in rows}, table, failed)


def _reports_dir(config: EvalConfig) -> Path:
    return Path(config.output_dir) if config.output_dir else Path(config.input_dir) / "eval"


def _score_grounded(config: EvalConfig, diagnostics: inputs.Diagnostics) -> Evaluation:
    """``--refs X.jsonl``: see :mod:`dialogpt.evaluation.grounded_eval`."""
    from dialogpt.evaluation import grounded_eval

    if config.input_dir:
        files, names = _response_files(config.input_dir)
        output_dir = _reports_dir(config)
    else:
        files, names, output_dir = [Path(config.hyp)], [Path(config.hyp).name], None
    meteor = None if config.no_dstc else _meteor_setup(config.no_meteor, config.meteor_jar)
    return grounded_eval.score_files(config.refs, files, names, diagnostics=diagnostics,
                                     single=config.hyp is not None, dstc=not config.no_dstc,
                                     clean=config.clean, compat=config.compat,
                                     meteor_setup=meteor, output_dir=output_dir,
                                     task=grounded_eval.task_of(config.refs, config.task))


def score(config: EvalConfig, diagnostics: inputs.Diagnostics) -> Evaluation:
    """Check the files of a validated ``config``, score, and write the reports it asks for
    (``per_segment``; ``input_dir``'s into ``output_dir``); skipped lines are counted in
    ``diagnostics``."""
    config.check_files()
    if config.grounded:
        return _score_grounded(config, diagnostics)
    session = _Session(config, diagnostics)
    return _score_folder(session, config) if config.input_dir else _score_one(session, config)


def _print_summary(diagnostics: inputs.Diagnostics) -> None:
    for line in diagnostics.summary():
        print(line, file=sys.stderr)


def _failure_lines(result: Evaluation) -> list[str]:
    total = len(result.metrics) + len(result.failed)
    return [f"{len(result.failed)} of {total} files were not scored:",
            *(f"  {message}" for message in result.failed)]


def evaluate(config: EvalConfig) -> dict:
    """Score as ``batch_eval.py`` does, without printing the results: returns the metrics that
    ``--json`` prints (see :class:`dialogpt.evaluation.report.Evaluation`) and writes the same
    reports. ``UserError`` for a bad config or input; with ``input_dir``, also when a file could
    not be scored (after the others were scored and written). Skip counts go to stderr."""
    config.validate()
    diagnostics = inputs.Diagnostics()
    try:
        result = score(config, diagnostics)
    finally:
        _print_summary(diagnostics)
    if result.failed:
        raise UserError(" ".join(_failure_lines(result)))
    return result.metrics


def main(argv: Sequence[str] | None = None) -> int:
    config = parse_config(EvalConfig, build_parser(), argv)
    setup_logging(config.verbose)
    diagnostics = inputs.Diagnostics()
    try:
        result = score(config, diagnostics)
        if config.json:
            print(json.dumps(result.metrics))
        elif result.table:
            print(result.table)
        if result.failed:
            print("error: " + "\n".join(_failure_lines(result)), file=sys.stderr)
    finally:
        _print_summary(diagnostics)
    return 2 if result.failed else 0
