"""``EvalConfig``: everything ``batch_eval.py`` is told, one field per flag.

``batch_eval.py``'s parser (and ``--help``) is generated from these fields by
:func:`dialogpt.config.build_parser`; :meth:`EvalConfig.validate` holds every check that needs no
files, :meth:`EvalConfig.check_files` the ones that do. A program builds the config itself and
calls :func:`dialogpt.evaluation.batch_eval.evaluate`::

    evaluate(EvalConfig(refs="test.refs.txt", hyp="test.resp.txt", clean=True))
"""

from __future__ import annotations

from dataclasses import dataclass

from dialogpt.cli import UserError
from dialogpt.config import flag
from dialogpt.evaluation.task_metrics import TASKS

RESPONSE_SUFFIX = ".resp.txt"
_DATA, _OUTPUT = "data", "output"
_SCORING = "scoring (defaults are the official settings)"
_TARGET = "hypotheses"


@dataclass
class EvalConfig:
    """A ``batch_eval.py`` run: score ``hyp`` (one system) or every ``*.resp.txt`` of
    ``input_dir`` against ``refs``."""

    refs: str = flag(
        help="references: KEY<TAB>score|text<TAB>... (DSTC-7) or KEY<TAB>text<TAB>... (plain), "
        "or GODEL JSON lines (.jsonl: GODEL's BLEU, ROUGE, unigram and knowledge F1 plus the "
        "DSTC-7 metrics; hypotheses one per line of the JSONL file)", group=_DATA)
    refs_format: str = flag("auto", "references format; auto: jsonl for a .jsonl/.json name, "
                            "else dstc (DSTC-7 or plain)", _DATA, choices=("auto", "dstc", "jsonl"))
    keys: str | None = flag(None, "keys to score, one per line (default: every key of --refs)",
                            _DATA)
    hyp: str | None = flag(None, "hypothesis file of one system", _DATA, one_of=_TARGET)
    input_dir: str | None = flag(None, f"score every *{RESPONSE_SUFFIX} in this folder", _DATA,
                                 one_of=_TARGET)
    format: str = flag(
        "auto", "hypotheses: dstc = 7-column submission (key first, response last); plain = one "
        "response per line aligned with --align_keys; auto = dstc when a line starts with a "
        "scored key and a TAB", _DATA, choices=("auto", "dstc", "plain"))
    align_keys: str | None = flag(None, "keys of a plain hypothesis file, line by line (default: "
                                  "--keys, else the first column of --refs)", _DATA)

    clean: bool = flag(False, "clean hypotheses and references like the official -c (used for "
                       "all published DSTC-7/DialoGPT numbers)", _SCORING, kind=bool)
    n_refs: int = flag(6, "reference streams", _SCORING, kind=int)
    vshuman: int = flag(1, "index of the human reference to skip (-1: use all)", _SCORING,
                        kind=int)
    compat: str = flag(
        "official", "official = DSTC-7 scorer (an empty line is scored as the word __empty__); "
        "dialogpt = DialoGPT's dstc/ variant (empty stays empty)", _SCORING,
        choices=("official", "dialogpt"))
    no_meteor: bool = flag(False, "skip METEOR (no Java needed)", _SCORING, kind=bool)
    no_dstc: bool = flag(False, "with JSONL references: GODEL's metrics only, no DSTC-7 metrics",
                         _SCORING, kind=bool)
    task: str | None = flag(
        None, "with JSONL references: add the metrics GODEL reports for this task (coqa: the "
        "official CoQA EM/F1; multiwoz: dialog-act F1 and the text's BLEU) and title the table "
        "with it (default: the 'task' of convert.json beside --refs, if any)", _SCORING,
        choices=TASKS)
    meteor_jar: str | None = flag(None, "meteor-1.5.jar (default: $DIALOGPT_METEOR_JAR, else the "
                                  "one pycocoevalcap ships)", _SCORING)

    json: bool = flag(False, "print one JSON object instead of the table", _OUTPUT, kind=bool)
    per_segment: str | None = flag(None, "write segment-level BLEU-4/NIST-4 of --hyp to this TSV",
                                   _OUTPUT)
    output_dir: str | None = flag(None, "reports of --input_dir (default: INPUT_DIR/eval)",
                                  _OUTPUT)
    verbose: bool = flag(False, "debug logging", kind=bool)

    @property
    def grounded(self) -> bool:
        """Whether ``refs`` holds GODEL records (JSON lines)."""
        from dialogpt.evaluation.grounded_eval import is_jsonl_references

        return is_jsonl_references(self.refs, self.refs_format)

    def validate(self) -> None:
        """Every check that needs no files: ``UserError`` naming the flag."""
        if (self.hyp is None) == (self.input_dir is None):
            raise UserError("pass one of --hyp (one system) or --input_dir (every "
                            f"*{RESPONSE_SUFFIX} of a folder)")
        if self.n_refs < 1:
            raise UserError("--n_refs must be at least 1")
        if self.per_segment and self.input_dir:
            raise UserError("--per_segment works with --hyp only")
        if self.output_dir and not self.input_dir:
            raise UserError("--output_dir works with --input_dir only")
        if not self.grounded and self.task:
            raise UserError("--task needs JSONL references (GODEL records, e.g. "
                            "convert_task.py's test.jsonl)")
        unused = [name for name, value in (("--keys", self.keys),
                                           ("--align_keys", self.align_keys),
                                           ("--per_segment", self.per_segment)) if value]
        if self.grounded and unused:
            raise UserError(f"{', '.join(unused)} do not apply to JSONL references: hypotheses "
                            "align with the records line by line")

    def check_files(self) -> None:
        """The inputs exist and the outputs can be written; ``refs`` is no conversation TSV."""
        from dialogpt.cli import check_paths
        from dialogpt.evaluation.make_refs import refuse_training_tsv

        check_paths(input_files={"--refs": self.refs, "--keys": self.keys, "--hyp": self.hyp,
                                 "--align_keys": self.align_keys},
                    input_dirs={"--input_dir": self.input_dir},
                    output_files={"--per_segment": self.per_segment},
                    output_dirs={"--output_dir": self.output_dir})
        refuse_training_tsv(self.refs)

    def settings(self) -> dict[str, object]:
        """The scoring settings, as the per-system reports state them."""
        return {"refs": self.refs, "keys": self.keys, "clean": self.clean,
                "n_refs": self.n_refs, "vshuman": self.vshuman, "compat": self.compat}
