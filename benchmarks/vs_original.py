#!/usr/bin/env python
"""Our tools against the original DialoGPT code, side by side on this machine.

    python benchmarks/vs_original.py --original ~/src/DialoGPT [--before DIR] [--pairs ...]

``--original`` is a checkout of https://github.com/microsoft/DialoGPT (nothing of it is copied
here); its prepro needs ``pytorch-pretrained-bert`` (+ boto3, requests, regex), its extractor
``flashtext``, ``nltk`` and ``zstandard``: give an interpreter that has them with
``--original_python``, or extra import paths with ``--original_pythonpath`` (e.g. a
``pip install --target DIR`` folder). Its prepro hard-codes the ``gpt2`` download; the launcher
points that name at the checkout's own ``configs/117M`` vocabulary (same files), so no network is
needed. ``--before DIR`` adds a third contestant (an older checkout of this repository), run in
the same rotation, so before/after ratios come from one run.

Pairs (``--pairs``, default all but train):

- ``prepro``: the same generated TSV (``benchmarks/corpora.py``; ``--vocabulary english small``),
  the original ``prepro.py`` against ours with ``--workers 1`` and ``--workers 2``, plus the raw
  one-thread GPT-2 tokenizer (``tiktoken``, the turn texts as one string, no I/O) as the floor.
- ``extract``: the conversation step of one synthetic month (``dialogpt.extraction.synthetic``),
  the original ``reddit.py --task=conv`` against ours with ``--workers 1`` and ``2``; outputs
  compared.
- ``decode``: greedy decoding, 117M shape with random weights, ``--contexts`` x
  ``--new_tokens``: the model card's one-at-a-time loop against ``generate.py``, each a whole
  process; responses compared.

Every command is a fresh process timed by wall clock and by the CPU seconds it used (user +
system, children included: steadier than wall time on a shared machine); a round runs each
contestant once, in a rotating order, and the figures are medians over ``--repeats`` rounds. The machine may be shared:
the load average before and after is printed, and only ratios within one run mean anything.
Prints one JSON line.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
MONTH = "2011-06"

# Runs the original prepro.py with the 'gpt2' vocabulary taken from the checkout's configs/117M.
_ORIGINAL_PREPRO = """
import runpy, sys
from pytorch_pretrained_bert import tokenization_gpt2 as t
t.PRETRAINED_VOCAB_ARCHIVE_MAP["gpt2"] = "configs/117M/vocab.json"
t.PRETRAINED_MERGES_ARCHIVE_MAP["gpt2"] = "configs/117M/merges.txt"
sys.argv = ["prepro.py"] + sys.argv[1:]
runpy.run_path("prepro.py", run_name="__main__")
"""

_RAW_TOKENIZER = """
import sys, time
sys.path.insert(0, sys.argv[2])
from corpora import turn_texts
from pathlib import Path
text = "\\n".join(turn_texts(Path(sys.argv[1])))
from dialogpt.tokenization import gpt2_tiktoken
encoding = gpt2_tiktoken()
start, cpu = time.perf_counter(), time.process_time()
n = len(encoding.encode_ordinary(text))
print(time.perf_counter() - start, time.process_time() - cpu, n)
"""


class Contestant:
    """One side: an interpreter, a source tree and an environment."""

    def __init__(self, name: str, python: str, root: Path, pythonpath: str = ""):
        self.name, self.python, self.root = name, python, root
        paths = [str(root)] + ([pythonpath] if pythonpath else [])
        self.env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths),
                    "TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": "1"}


class Timing(NamedTuple):
    """One process: wall seconds, and the CPU seconds (user + system) it and its children used.

    CPU seconds suffer far less than wall time when other work shares the machine, so their
    ratios are the steadier figure on a loaded box (they do not credit a second worker)."""
    wall: float
    cpu: float


def timed(command: list[str], env: dict, cwd: Path | None = None) -> Timing:
    """Time one process (output discarded); raises with its stderr if it fails."""
    with tempfile.TemporaryFile("w+") as log:
        start = time.perf_counter()
        process = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.DEVNULL,
                                   stderr=log)
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - start
        process.returncode = code = os.waitstatus_to_exitcode(status)
        if code != 0:
            log.seek(0)
            raise RuntimeError(f"{' '.join(map(str, command))} failed ({code}):\n"
                               f"{log.read()[-3000:]}")
    return Timing(seconds, usage.ru_utime + usage.ru_stime)


def rotate(jobs: dict, repeats: int) -> dict[str, list[Timing]]:
    """Run every job once per round, the order rotating each round; ``{name: [Timing]}``.

    A job is ``(setup, run)``: ``setup()`` (untimed, e.g. removing the last output) then
    ``run() -> Timing``."""
    names = list(jobs)
    times: dict[str, list[Timing]] = {name: [] for name in names}
    for round_number in range(repeats):
        shift = round_number % len(names)
        for name in names[shift:] + names[:shift]:
            setup, run = jobs[name]
            setup()
            wall, cpu = run()
            times[name].append(Timing(round(wall, 3), round(cpu, 3)))
            print(f"  {name}: {wall:.2f} s wall, {cpu:.2f} s CPU", file=sys.stderr)
    return times


def _remove(*paths: Path):
    def setup() -> None:
        for path in paths:
            shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(
                missing_ok=True)
    return setup


def _summary(times: dict[str, list[Timing]], baseline: str) -> dict:
    """Medians of wall and CPU seconds per contestant, and both speed-ups over ``baseline``."""
    wall = {name: statistics.median(t.wall for t in runs) for name, runs in times.items()}
    cpu = {name: statistics.median(t.cpu for t in runs) for name, runs in times.items()}
    return {name: {"median_s": round(wall[name], 3), "runs_s": [t.wall for t in times[name]],
                   "speedup_vs_original": round(wall[baseline] / wall[name], 2),
                   "median_cpu_s": round(cpu[name], 3),
                   "cpu_speedup_vs_original": round(cpu[baseline] / cpu[name], 2)}
            for name in times}


def prepro_pair(original: Contestant, ours: list[Contestant], work: Path, vocabulary: str,
                lines: int, repeats: int) -> dict:
    from corpora import write_tsv

    corpus = write_tsv(work / f"{vocabulary}.tsv", lines, 0, vocabulary)
    original_corpus = work / "original" / corpus.name
    original_corpus.parent.mkdir(exist_ok=True)
    shutil.copyfile(corpus, original_corpus)
    original_db = work / "original" / f"{vocabulary}.128len.db"
    jobs = {"original": (_remove(original_db), lambda: timed(
        [original.python, "-c", _ORIGINAL_PREPRO, "--corpus", str(original_corpus)],
        original.env, cwd=original.root))}
    for side in ours:
        for workers in (1, 2):
            db = work / f"{side.name}.w{workers}.db"
            jobs[f"{side.name}_w{workers}"] = (_remove(db), lambda side=side, db=db, w=workers:
                                               timed([side.python, str(side.root / "prepro.py"),
                                                      "--corpus", str(corpus), "--output",
                                                      str(db), "--workers", str(w)], side.env))

    def tokenizer_run() -> Timing:  # the encode call alone, timed inside its process
        out = subprocess.run([ours[-1].python, "-c", _RAW_TOKENIZER, str(corpus), str(HERE)],
                             env=ours[-1].env, capture_output=True, text=True, check=True)
        wall, cpu = map(float, out.stdout.split()[:2])
        return Timing(wall, cpu)
    jobs["raw_tokenizer_1_thread"] = (lambda: None, tokenizer_run)
    times = rotate(jobs, repeats)
    result = _summary(times, "original")
    tokenizer = statistics.median(t.wall for t in times.pop("raw_tokenizer_1_thread"))
    for name in times:
        result[name]["over_raw_tokenizer"] = round(result[name]["median_s"] / tokenizer, 2)
    same = [_same_db(work / f"{side.name}.w1.db", work / f"{side.name}.w2.db") for side in ours]
    return {"vocabulary": vocabulary, "lines": lines, "corpus_mb": round(
        corpus.stat().st_size / 1e6, 1), "turn_text_mb": round(sum(
            len(t.encode()) + 1 for t in __import__("corpora").turn_texts(corpus)) / 1e6, 1),
        "workers_1_equals_2": all(same), "times": result}


def _same_db(one: Path, two: Path) -> bool:
    names = sorted(p.name for p in one.iterdir() if p.name != "summary.json")
    return all((one / n).read_bytes() == (two / n).read_bytes() for n in names)


_EXTRACT_PREPARE = """
import sys
from pathlib import Path
from dialogpt.extraction.synthetic import write_synthetic_keys, write_synthetic_month
root, month, submissions, per_submission = sys.argv[1:]
root = Path(root)
write_synthetic_month(root / "dumps", month, int(submissions), seed=0,
                      comments_per_submission=float(per_submission))
write_synthetic_keys(root / "keys", month, root / "dumps", seed=0)
"""


def extract_pair(original: Contestant, ours: list[Contestant], work: Path, submissions: int,
                 per_submission: float, repeats: int, both_before: bool = False) -> dict:
    """The conversation step of one month; extract steps run once, untimed."""
    last = ours[-1]
    subprocess.run([last.python, "-c", _EXTRACT_PREPARE, str(work), MONTH, str(submissions),
                    str(per_submission)], env=last.env, check=True)
    keys = work / "keys"
    script = original.root / "reddit_extractor" / "src" / "reddit.py"
    common = [original.python, str(script), MONTH, "--reddit_input", str(work / "dumps"),
              "--reddit_output", str(work / "original")]
    timed(common + [f"--keep_keys={keys}/{MONTH}.gz", "--task=extract"], original.env,
          cwd=script.parent)
    for path in (work / "original" / "extract" / MONTH).glob("r*_sub*.tsv"):
        subprocess.run(["gzip", "-f", str(path)], check=True)
    conv = common + ["--task=conv", f"--keep_keys={keys}/{MONTH}.gz", "--discard_tgt_keys",
                     f"{keys}/{MONTH}-o.gz", "--parallel=True", "--clean", "True",
                     "--min_score", "1", "--min_depth", "2", "--max_depth", "5",
                     "--use_title", "0", "--leaves_only", "1"]
    original_out = work / "original" / "conv" / f"{MONTH}.tsv"
    jobs = {"original": (_remove(original_out), lambda: timed(conv, original.env,
                                                              cwd=script.parent))}
    for side in ours:
        extract_dir = work / f"{side.name}.extract"
        timed([side.python, "-m", "dialogpt.extraction.extract", MONTH, "--dumps",
               str(work / "dumps"), "--out", str(extract_dir), "--keep_keys",
               str(keys / f"{MONTH}.gz")], side.env, cwd=side.root)  # -m: cwd comes first
        for workers in (1,) if side.name == "before" and not both_before else (1, 2):
            out = work / f"{side.name}.conv.w{workers}"
            jobs[f"{side.name}_w{workers}"] = (_remove(out), lambda side=side, out=out,
                                               extract_dir=extract_dir, w=workers: timed(
                [side.python, "-m", "dialogpt.extraction.conv", MONTH, "--extract_dir",
                 str(extract_dir), "--out", str(out), "--keep_keys", str(keys / f"{MONTH}.gz"),
                 "--discard_keys", str(keys / f"{MONTH}-o.gz"), "--workers", str(w)],
                side.env, cwd=side.root))
    times = rotate(jobs, repeats)
    theirs = original_out.read_text(encoding="utf-8")
    equal = {}
    for name in times:
        if name != "original":
            side, workers = name.rsplit("_w", 1)
            with gzip.open(work / f"{side}.conv.w{workers}" / f"{MONTH}.tsv.gz", "rt",
                           encoding="utf-8") as handle:
                equal[name] = handle.read() == theirs
    report = json.loads((work / f"{last.name}.conv.w1" / f"{MONTH}.report.json").read_text())
    return {"comments": report["conv"]["comments"], "lines": theirs.count("\n"),
            "outputs_equal_original": equal, "times": _summary(times, "original")}


def decode_pair(ours: list[Contestant], work: Path, contexts: int, new_tokens: int,
                repeats: int) -> dict:
    """generate.py against the model card's loop (``benchmarks/card_loop.py``)."""
    last = ours[-1]
    subprocess.run([last.python, str(HERE / "card_loop.py"), "prepare", str(work), str(contexts)],
                   env=last.env, check=True)
    model, inputs = work / "model", work / "contexts.tsv"
    card_out = work / "card.txt"
    jobs = {"model_card_loop": (_remove(card_out), lambda: timed(
        [last.python, str(HERE / "card_loop.py"), "run", str(model), str(inputs), str(card_out),
         str(new_tokens)], last.env))}
    for side in ours:
        out = work / f"{side.name}.gen.txt"
        jobs[side.name] = (_remove(out), lambda side=side, out=out: timed(
            [side.python, str(side.root / "generate.py"), "--model", str(model), "--input",
             str(inputs), "--output", str(out), "--max_length", str(new_tokens),
             "--decoding", "greedy", "--tokenizer", "gpt2-bpe"], side.env))
    times = rotate(jobs, repeats)
    card = card_out.read_text(encoding="utf-8").splitlines()
    equal = {side.name: (work / f"{side.name}.gen.txt").read_text(
        encoding="utf-8").splitlines() == card for side in ours}
    return {"contexts": contexts, "new_tokens": new_tokens, "responses_equal_card": equal,
            "times": _summary(times, "model_card_loop")}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     epilog=__doc__.split("\n\n", 1)[1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--original", type=Path, required=True,
                        help="checkout of github.com/microsoft/DialoGPT (read only)")
    parser.add_argument("--original_python", default=sys.executable,
                        help="interpreter for the original's scripts")
    parser.add_argument("--original_pythonpath", default=os.environ.get(
        "ORIGINAL_PYTHONPATH", ""), help="extra import path for the original's dependencies")
    parser.add_argument("--ours", type=Path, default=REPO, help="our checkout (default: this)")
    parser.add_argument("--before", type=Path, help="an older checkout of ours, run alongside")
    parser.add_argument("--pairs", nargs="+", default=["prepro", "extract", "decode"],
                        choices=["prepro", "extract", "decode"], help="workloads to run")
    parser.add_argument("--vocabulary", nargs="+", default=["english", "small"],
                        choices=["english", "small"], help="prepro corpora")
    parser.add_argument("--lines", type=int, default=200_000, help="prepro corpus lines")
    parser.add_argument("--submissions", type=int, default=12_000, help="extract: submissions")
    parser.add_argument("--comments_per_submission", type=float, default=18.0,
                        help="extract: mean thread size (12000 x 18 ~ 200k comments)")
    parser.add_argument("--before_extract_workers_2", action="store_true",
                        help="also run --before's conv step with --workers 2 (before commit "
                        "0038212+1 its pool could hang on exit)")
    parser.add_argument("--contexts", type=int, default=64, help="decode: contexts")
    parser.add_argument("--new_tokens", type=int, default=32, help="decode: tokens per reply")
    parser.add_argument("--repeats", type=int, default=3, help="rounds (median taken)")
    parser.add_argument("--work", type=Path, help="work folder to keep (default: temporary)")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(HERE))

    original = Contestant("original", args.original_python, args.original.resolve(),
                          args.original_pythonpath)
    ours = ([Contestant("before", sys.executable, args.before.resolve())] if args.before
            else []) + [Contestant("ours", sys.executable, args.ours.resolve())]
    result = {"benchmark": "vs_original", "cpus": os.cpu_count(),
              "load_average_before": [round(x, 2) for x in os.getloadavg()],
              "repeats": args.repeats}
    with tempfile.TemporaryDirectory() as tmp:
        work = args.work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        if "prepro" in args.pairs:
            result["prepro"] = []
            for vocabulary in args.vocabulary:
                folder = work / f"prepro-{vocabulary}"
                folder.mkdir(exist_ok=True)
                result["prepro"].append(prepro_pair(original, ours, folder, vocabulary,
                                                    args.lines, args.repeats))
        if "extract" in args.pairs:
            (work / "extract").mkdir(exist_ok=True)
            result["extract"] = extract_pair(original, ours, work / "extract", args.submissions,
                                             args.comments_per_submission, args.repeats,
                                             args.before_extract_workers_2)
        if "decode" in args.pairs:
            (work / "decode").mkdir(exist_ok=True)
            result["decode"] = decode_pair(ours, work / "decode", args.contexts,
                                           args.new_tokens, args.repeats)
    result["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
