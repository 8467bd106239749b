"""Wall time of DSTC-7 scoring: the 10 systems of ``eval-cases/dstc7_1k`` (954 contexts each).

    python benchmarks/bench_eval.py [--case ../shared/eval-cases/dstc7_1k] [--no_meteor]
        [--official_src DSTC7-End-to-End-Conversation-Modeling/evaluation/src]

Ours: official settings (``--clean``, 6 streams, human reference skipped), every system scored
in one process as ``batch_eval.py --input_dir`` does; with METEOR, one JVM for all systems.

Official (only with ``--official_src``, a checkout of the DSTC-7 scorer with
``3rdparty/mteval-v14c.pl``; needs Perl with XML::Twig, Sort::Naturally, String::Util): its own
functions for everything but METEOR, per system: extract and clean, NIST/BLEU through Perl
(``calc_nist_bleu``, which also sleeps 1 s), entropy, distinct, length. ``official_perl_s`` is the
Perl process alone. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CASE = REPO_ROOT.parent / "shared" / "eval-cases" / "dstc7_1k"


def ours(case: Path, with_meteor: bool) -> dict:
    sys.path.insert(0, str(REPO_ROOT))
    from dialogpt.evaluation import inputs
    from dialogpt.evaluation.meteor import locate_meteor, meteor_file_mode, meteor_many
    from dialogpt.evaluation.scoring import DstcScorer

    files = sorted(case.glob("sys_*.txt"))
    start = time.perf_counter()
    diagnostics = inputs.Diagnostics()
    keys = set(inputs.read_keys(case / "keys.txt"))
    references = inputs.read_references(case / "refs.txt", keys, diagnostics, True)
    scorer = DstcScorer(references, clean=True)
    systems = []
    for path in files:
        hypotheses = inputs.read_dstc_hypotheses(path, keys, diagnostics)
        scored = inputs.check_coverage(hypotheses, references, "keys", len(keys), diagnostics)
        systems.append(scorer.prepare(path.stem, hypotheses, scored))
    per_system = []
    for system in systems:
        tick = time.perf_counter()
        scorer.score(system)
        per_system.append(time.perf_counter() - tick)
    figures = {"systems": len(files), "segments": len(systems[0].keys),
               "ours_no_meteor_s": round(time.perf_counter() - start, 3),
               "ours_per_system_warm_s": round(min(per_system[1:] or per_system), 3)}
    if with_meteor:
        tick = time.perf_counter()
        meteor_many(locate_meteor(), [(s.hypotheses, s.reference_streams) for s in systems])
        figures["ours_meteor_s"] = round(time.perf_counter() - tick, 3)
        figures["ours_with_meteor_s"] = round(figures["ours_no_meteor_s"]
                                              + figures["ours_meteor_s"], 3)
        # The official scorer starts one JVM per system, in file mode: time one such run.
        tick = time.perf_counter()
        meteor_file_mode(locate_meteor(), systems[0].hypotheses, systems[0].reference_streams)
        figures["meteor_file_mode_one_system_s"] = round(time.perf_counter() - tick, 3)
    return figures


def official(case: Path, src: Path) -> dict:
    """The official scorer's own functions (all but METEOR), timed per system."""
    os.chdir(src)  # its metrics call perl 3rdparty/mteval-v14c.pl relative to the cwd
    sys.path.insert(0, str(src))
    import dstc  # noqa: F401  (the official module, from --official_src)
    import metrics

    perl_seconds = 0.0
    original_popen = subprocess.Popen

    class TimedPopen(original_popen):
        def communicate(self, *args, **kwargs):
            nonlocal perl_seconds
            tick = time.perf_counter()
            try:
                return super().communicate(*args, **kwargs)
            finally:
                perl_seconds += time.perf_counter() - tick

    metrics.subprocess.Popen = TimedPopen
    files = sorted(case.glob("sys_*.txt"))
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for path in files:
            out = Path(tmp) / path.stem
            with contextlib.redirect_stdout(io.StringIO()):
                hyp, refs = dstc.extract_hyp_refs(str(path), str(case / "refs.txt"),
                                                  str(case / "keys.txt"), str(out), 6,
                                                  clean=True, vshuman=1)
                nist, _ = metrics.calc_nist_bleu(refs, hyp, str(out))
                metrics.calc_entropy(hyp)
                metrics.calc_diversity(hyp)
                metrics.calc_len(hyp, None)
            if nist[0] < 0:
                raise RuntimeError("mteval-v14c.pl failed; check Perl and its XML::Twig modules")
    total = time.perf_counter() - start
    return {"official_no_meteor_s": round(total, 3), "official_perl_s": round(perl_seconds, 3),
            "official_sleep_s": len(files) * 1.0}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--case", type=Path, default=DEFAULT_CASE)
    parser.add_argument("--official_src", type=Path, default=None)
    parser.add_argument("--no_meteor", action="store_true")
    args = parser.parse_args(argv)
    case = args.case.resolve()
    figures = {"case": case.name, **ours(case, not args.no_meteor)}
    if args.official_src:
        figures.update(official(case, args.official_src.resolve()))
        figures["speedup_vs_official"] = round(
            figures["official_no_meteor_s"] / figures["ours_no_meteor_s"], 1)
        figures["speedup_vs_official_without_sleep"] = round(
            (figures["official_no_meteor_s"] - figures["official_sleep_s"])
            / figures["ours_no_meteor_s"], 1)
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
