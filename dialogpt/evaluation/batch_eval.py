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

from dialogpt.cli import UserError, add_bool_flag, check_paths, make_parser, setup_logging
from dialogpt.evaluation import inputs
from dialogpt.evaluation.meteor import MeteorUnavailable, locate_meteor, meteor_scores
from dialogpt.evaluation.report import (headline_table, per_segment_tsv, summary_tsv,
                                        system_report)
from dialogpt.evaluation.scoring import DstcScorer, PreparedSystem
from dialogpt.evaluation.task_metrics import TASKS
from dialogpt.fileio import atomic_write

logger = logging.getLogger(__name__)

RESPONSE_SUFFIX = ".resp.txt"


def build_parser():
    parser = make_parser("batch_eval.py", __doc__)
    data = parser.add_argument_group("data")
    data.add_argument("--refs", required=True,
                      help="references: KEY<TAB>score|text<TAB>... (DSTC-7) or "
                           "KEY<TAB>text<TAB>... (plain), or GODEL JSON lines (.jsonl: GODEL's "
                           "BLEU, ROUGE, unigram and knowledge F1 plus the DSTC-7 metrics; "
                           "hypotheses one per line of the JSONL file)")
    data.add_argument("--refs_format", choices=("auto", "dstc", "jsonl"), default="auto",
                      help="references format; auto: jsonl for a .jsonl/.json name, else dstc "
                           "(DSTC-7 or plain)")
    data.add_argument("--keys", default=None,
                      help="keys to score, one per line (default: every key of --refs)")
    target = data.add_mutually_exclusive_group(required=True)
    target.add_argument("--hyp", default=None, help="hypothesis file of one system")
    target.add_argument("--input_dir", default=None,
                        help=f"score every *{RESPONSE_SUFFIX} in this folder")
    data.add_argument("--format", choices=("auto", "dstc", "plain"), default="auto",
                      help="hypotheses: dstc = 7-column submission (key first, response last); "
                           "plain = one response per line aligned with --align_keys; auto = dstc "
                           "when a line starts with a scored key and a TAB")
    data.add_argument("--align_keys", default=None,
                      help="keys of a plain hypothesis file, line by line (default: --keys, else "
                           "the first column of --refs)")
    scoring = parser.add_argument_group("scoring (defaults are the official settings)")
    add_bool_flag(scoring, "--clean", False, "clean hypotheses and references like the official "
                                             "-c (used for all published DSTC-7/DialoGPT numbers)")
    scoring.add_argument("--n_refs", type=int, default=6, help="reference streams")
    scoring.add_argument("--vshuman", type=int, default=1,
                         help="index of the human reference to skip (-1: use all)")
    scoring.add_argument("--compat", choices=("official", "dialogpt"), default="official",
                         help="official = DSTC-7 scorer (an empty line is scored as the word "
                              "__empty__); dialogpt = DialoGPT's dstc/ variant (empty stays empty)")
    add_bool_flag(scoring, "--no_meteor", False, "skip METEOR (no Java needed)")
    add_bool_flag(scoring, "--no_dstc", False, "with JSONL references: GODEL's metrics only, "
                                               "no DSTC-7 metrics")
    scoring.add_argument("--task", choices=TASKS, default=None,
                         help="with JSONL references: add the metrics GODEL reports for this "
                              "task (coqa: the official CoQA EM/F1; multiwoz: dialog-act F1 and "
                              "the text's BLEU) and title the table with it (default: the 'task' "
                              "of convert.json beside --refs, if any)")
    scoring.add_argument("--meteor_jar", default=None,
                         help="meteor-1.5.jar (default: $DIALOGPT_METEOR_JAR, else the one "
                              "pycocoevalcap ships)")
    output = parser.add_argument_group("output")
    add_bool_flag(output, "--json", False, "print one JSON object instead of the table")
    output.add_argument("--per_segment", default=None,
                        help="write segment-level BLEU-4/NIST-4 of --hyp to this TSV")
    output.add_argument("--output_dir", default=None,
                        help="reports of --input_dir (default: INPUT_DIR/eval)")
    parser.add_argument("--verbose", action="store_true", help="debug logging")
    return parser


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


def _validate(args) -> None:
    if args.n_refs < 1:
        raise UserError("--n_refs must be at least 1")
    if args.per_segment and args.input_dir:
        raise UserError("--per_segment works with --hyp only")
    if args.output_dir and not args.input_dir:
        raise UserError("--output_dir works with --input_dir only")
    check_paths(input_files={"--refs": args.refs, "--keys": args.keys, "--hyp": args.hyp,
                             "--align_keys": args.align_keys},
                input_dirs={"--input_dir": args.input_dir},
                output_files={"--per_segment": args.per_segment},
                output_dirs={"--output_dir": args.output_dir})
    from dialogpt.evaluation.make_refs import refuse_training_tsv

    refuse_training_tsv(args.refs)


class _Session:
    """Inputs shared by every system of one run: keys, references and the scorer."""

    def __init__(self, args, diagnostics: inputs.Diagnostics):
        self.args = args
        self.diagnostics = diagnostics
        keys = inputs.read_keys(args.keys) if args.keys else None
        self.references = inputs.read_references(args.refs, set(keys) if keys else None,
                                                 diagnostics,
                                                 require_scores=args.compat == "official")
        self.keys = set(keys) if keys else set(self.references.texts)
        self.keys_path = args.keys or args.refs
        self._align_keys = None
        self.scorer = DstcScorer(self.references, args.n_refs, args.vshuman, args.clean,
                                 args.compat)

    def align_keys(self) -> list[str]:
        if self._align_keys is None:
            self._align_keys = inputs.read_keys(self.args.align_keys or self.keys_path)
        return self._align_keys

    def prepare(self, path: Path, name: str) -> PreparedSystem:
        fmt = (self.args.format if self.args.format != "auto"
               else inputs.detect_format(path, self.keys))
        if fmt == "dstc":
            hypotheses = inputs.read_dstc_hypotheses(path, self.keys, self.diagnostics)
        else:
            hypotheses = inputs.read_plain_hypotheses(
                path, self.align_keys(), self.args.align_keys or self.keys_path, self.keys,
                self.diagnostics)
        scored = inputs.check_coverage(hypotheses, self.references, self.keys_path,
                                       len(self.keys), self.diagnostics)
        system = self.scorer.prepare(name, hypotheses, scored)
        empty = sum(1 for text in system.hypotheses if not text)
        if empty:
            as_what = ("the word __empty__" if self.args.compat == "official"
                       else "empty segments")
            self.diagnostics.warn(f"empty hypotheses were kept in place; NIST/BLEU score them "
                                  f"as {as_what}", f"{path}: {empty} of {len(scored)}")
        return system

    def vshuman_note(self) -> str:
        texts = self.references.texts
        return vshuman_note(self.args.vshuman, [len(texts[key]) for key in self.keys
                                                if key in texts])

    def settings(self) -> dict[str, object]:
        a = self.args
        return {"refs": a.refs, "keys": a.keys, "clean": a.clean, "n_refs": a.n_refs,
                "vshuman": a.vshuman, "compat": a.compat}


def _meteor_setup(args):
    """The jar setup, or None (with a warning that says how to fix it)."""
    if args.no_meteor:
        return None
    try:
        return locate_meteor(args.meteor_jar)
    except MeteorUnavailable as exc:
        print(f"warning: METEOR unavailable: {exc}; the other metrics follow", file=sys.stderr)
        return None


def _score_one(session: _Session, args) -> int:
    path = Path(args.hyp)
    system = session.prepare(path, path.name)
    (meteor,) = meteor_scores(_meteor_setup(args), [system])
    segments = session.scorer.segment_stats(system)
    scores = session.scorer.score(system, meteor, segments)
    if args.per_segment:
        with atomic_write(args.per_segment) as handle:
            handle.write(per_segment_tsv(system, segments, args.n_refs))
    if args.json:
        print(json.dumps(scores.as_dict()))
    else:
        print(headline_table([(path.name, scores)]))
        print(f"({scores.n_lines} hypotheses; clean={args.clean}, compat={args.compat}; "
              f"{session.vshuman_note()}; --json prints every metric)")
    return 0


def _score_folder(session: _Session, args) -> int:
    files = sorted(Path(args.input_dir).glob(f"*{RESPONSE_SUFFIX}"))
    if not files:
        raise UserError(f"no *{RESPONSE_SUFFIX} file in {args.input_dir}")
    output_dir = Path(args.output_dir) if args.output_dir else Path(args.input_dir) / "eval"
    systems, failed = [], []
    for path in files:
        try:
            systems.append(session.prepare(path, path.name[:-len(RESPONSE_SUFFIX)]))
        except UserError as exc:  # reported at the end; the other systems are still scored
            failed.append(str(exc))
    logger.info("scoring %d systems (METEOR: one JVM for all)", len(systems))
    meteors = meteor_scores(_meteor_setup(args), systems)
    rows = []
    for system, meteor in zip(systems, meteors):
        scores = session.scorer.score(system, meteor)
        rows.append((system.name, scores))
        with atomic_write(output_dir / f"{system.name}.eval.txt") as handle:
            handle.write(system_report(system.name, scores, session.settings()))
        with atomic_write(output_dir / f"{system.name}.eval.json") as handle:
            handle.write(json.dumps(scores.as_dict()) + "\n")
    if rows:
        with atomic_write(output_dir / "summary.tsv") as handle:
            handle.write(summary_tsv(rows))
    if args.json:
        print(json.dumps({name: scores.as_dict() for name, scores in rows}))
    elif rows:
        print(headline_table(rows))
        print(f"(reports in {output_dir}; {session.vshuman_note()})")
    if failed:
        print(f"error: {len(failed)} of {len(files)} files were not scored:", file=sys.stderr)
        for message in failed:
            print(f"  {message}", file=sys.stderr)
        return 2
    return 0


def _score_grounded(args, diagnostics) -> int:
    """``--refs X.jsonl``: see :mod:`dialogpt.evaluation.grounded_eval`."""
    from dialogpt.evaluation import grounded_eval

    unused = [flag for flag, value in (("--keys", args.keys), ("--align_keys", args.align_keys),
                                       ("--per_segment", args.per_segment)) if value]
    if unused:
        raise UserError(f"{', '.join(unused)} do not apply to JSONL references: hypotheses "
                        "align with the records line by line")
    if args.input_dir:
        files = sorted(Path(args.input_dir).glob(f"*{RESPONSE_SUFFIX}"))
        if not files:
            raise UserError(f"no *{RESPONSE_SUFFIX} file in {args.input_dir}")
        names = [path.name[:-len(RESPONSE_SUFFIX)] for path in files]
        output_dir = Path(args.output_dir) if args.output_dir else Path(args.input_dir) / "eval"
    else:
        files, names, output_dir = [Path(args.hyp)], [Path(args.hyp).name], None
    meteor = None if args.no_dstc else _meteor_setup(args)
    return grounded_eval.run(args.refs, files, names, diagnostics=diagnostics,
                             dstc=not args.no_dstc, clean=args.clean, compat=args.compat,
                             meteor_setup=meteor, json_output=args.json,
                             output_dir=output_dir,
                             task=grounded_eval.task_of(args.refs, args.task))


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    _validate(args)
    diagnostics = inputs.Diagnostics()
    from dialogpt.evaluation import grounded_eval

    if grounded_eval.is_jsonl_references(args.refs, args.refs_format):
        try:
            return _score_grounded(args, diagnostics)
        finally:
            for line in diagnostics.summary():
                print(line, file=sys.stderr)
    if args.task:
        raise UserError("--task needs JSONL references (GODEL records, e.g. convert_task.py's "
                        "test.jsonl)")
    try:
        session = _Session(args, diagnostics)
        return _score_folder(session, args) if args.input_dir else _score_one(session, args)
    finally:
        for line in diagnostics.summary():
            print(line, file=sys.stderr)
