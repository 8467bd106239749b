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
- ``train`` (not in the default: minutes): CPU training of ``configs/tiny`` (2 layers, 128 wide,
  GPT-2's vocabulary; written as a pytorch-pretrained-bert config for the original, with its
  ``configs/117M`` vocabulary files), fp32, one thread, ``--train_steps`` steps of
  ``--train_batch`` examples, lr 1e-4 constant (``--lr_schedule None``), dropout 0 on both sides
  (the original's GPT-2 has no dropout layers; ours is told 0 in its config), no evaluation.
  Each side trains on its own prepro DB of the same generated TSV; ours uses its default
  optimizer (AdamW; ``--train_optimizers adamw original`` adds a run with our BERT-Adam, the
  original's update rule), the original its BERT-Adam. First and last losses are printed.

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

    def __init__(self, name: str, python: str, root: Path, pythonpath: str = "",
                 threads: int = 1):
        self.name, self.python, self.root = name, python, root
        paths = [str(root)] + ([pythonpath] if pythonpath else [])
        self.env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths),
                    "TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": str(threads)}


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
    raw = times.pop("raw_tokenizer_1_thread")
    tokenizer = statistics.median(t.wall for t in raw)
    tokenizer_cpu = statistics.median(t.cpu for t in raw)
    for name in times:
        result[name]["over_raw_tokenizer"] = round(result[name]["median_s"] / tokenizer, 2)
        result[name]["cpu_over_raw_tokenizer"] = round(result[name]["median_cpu_s"] /
                                                       tokenizer_cpu, 2)
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
                repeats: int, threads: int = 1) -> dict:
    """generate.py against the model card's loop (``benchmarks/card_loop.py``), both sides with
    ``threads`` torch threads."""
    ours = [Contestant(side.name, side.python, side.root, threads=threads) for side in ours]
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
    return {"contexts": contexts, "new_tokens": new_tokens, "threads": threads,
            "responses_equal_card": equal, "times": _summary(times, "model_card_loop")}


_TRAIN_FLAGS = ["--gradient_accumulation_steps", "1", "--learning_rate", "1e-4",
                "--lr_schedule", "None", "--max_seq_length", "128", "--seed", "42",
                "--valid_step", str(10 ** 9), "--pbar", "false"]


def _tiny_configs(ours: Contestant, original: Contestant, work: Path) -> tuple[Path, Path]:
    """``configs/tiny`` as our config (dropout 0) and as the original's model directory."""
    tiny = {key: value for key, value in json.loads(
        (ours.root / "configs" / "tiny" / "config.json").read_text()).items()
        if not key.startswith("_")}
    ours_dir, original_dir = work / "tiny-ours", work / "tiny-original"
    ours_dir.mkdir(exist_ok=True)
    original_dir.mkdir(exist_ok=True)
    (ours_dir / "config.json").write_text(json.dumps(
        {**tiny, "resid_pdrop": 0.0, "embd_pdrop": 0.0, "attn_pdrop": 0.0}))
    (original_dir / "config.json").write_text(json.dumps({
        "vocab_size": tiny.get("vocab_size", 50257), "n_positions": tiny["n_positions"],
        "n_ctx": tiny["n_positions"], "n_embd": tiny["n_embd"], "n_layer": tiny["n_layer"],
        "n_head": tiny["n_head"], "layer_norm_epsilon": 1e-5, "initializer_range": 0.02}))
    for name in ("vocab.json", "merges.txt"):
        shutil.copyfile(original.root / "configs" / "117M" / name, original_dir / name)
    return ours_dir, original_dir


def _original_losses(output_dir: Path) -> tuple[list[float], int]:
    """Per-step losses from the original's train_log.txt (it logs the running mean) and its
    real-token count (ids != 0)."""
    log = next(output_dir.glob("*/train_log.txt")).read_text().splitlines()[1:]
    means = [float(line.split(",")[3]) for line in log]    # means[k]: of steps 0..k
    losses = [means[0]] + [(k + 1) * means[k] - k * means[k - 1] for k in range(1, len(means))]
    return losses, int(log[-1].split(",")[5])


def _our_losses(output_dir: Path) -> tuple[list[float], int]:
    rows = [json.loads(line) for line in (output_dir / "train_log.jsonl").read_text(
        ).splitlines()]
    return [row["loss"] for row in rows], rows[-1]["n_token_real"]


def train_pair(original: Contestant, ours: list[Contestant], work: Path, lines: int, steps: int,
               batch: int, repeats: int, optimizers: list[str]) -> dict:
    """LSP_train.py of both on the same tiny config, data, batches, rate and dropout."""
    from corpora import write_tsv

    corpus = write_tsv(work / "train.tsv", lines, 0, "english")
    (work / "original").mkdir(exist_ok=True)
    original_corpus = work / "original" / corpus.name
    shutil.copyfile(corpus, original_corpus)
    valid = work / "valid.tsv"   # the original reads an eval file at start-up, even unused
    valid.write_text("".join(corpus.read_text(encoding="utf-8").splitlines(True)[:20]))
    timed([original.python, "-c", _ORIGINAL_PREPRO, "--corpus", str(original_corpus)],
          original.env, cwd=original.root)
    ours_model, original_model = _tiny_configs(ours[-1], original, work)
    original_out = work / "original" / "out"
    common = ["--train_batch_size", str(batch), "--num_optim_steps", str(steps), *_TRAIN_FLAGS]
    jobs = {"original": (_remove(original_out), lambda: timed(
        [original.python, "LSP_train.py", "--model_name_or_path", str(original_model),
         "--train_input_file", str(work / "original" / "train.128len.db"), "--eval_input_file",
         str(valid), "--output_dir", str(original_out), "--fp16", "false", *common],
        original.env, cwd=original.root))}
    for side in ours:
        db = work / f"{side.name}.db"
        timed([side.python, str(side.root / "prepro.py"), "--corpus", str(corpus), "--output",
               str(db), "--workers", "1"], side.env)
        for optimizer in optimizers:
            name = side.name + ("" if optimizer == "adamw" else "_bert_adam")
            out = work / f"{name}.out"
            jobs[name] = (_remove(out), lambda side=side, db=db, out=out, optimizer=optimizer: timed(
                [side.python, str(side.root / "LSP_train.py"), "--model_name_or_path",
                 str(ours_model), "--train_input_file", str(db), "--skip_eval", "--output_dir",
                 str(out), "--precision", "fp32", "--optimizer", optimizer, *common], side.env))
    times = rotate(jobs, repeats)
    losses = {"original": _original_losses(original_out)}
    losses.update({name: _our_losses(work / f"{name}.out") for name in times
                   if name != "original"})
    return {"steps": steps, "batch": batch, "lines": lines, "dropout": 0.0, "config": "tiny",
            "losses": {name: {"first": round(values[0], 4), "last": round(values[-1], 4),
                              "mean_last_10": round(statistics.mean(values[-10:]), 4),
                              "real_tokens": tokens}
                       for name, (values, tokens) in losses.items()},
            "times": _summary(times, "original")}


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
                        choices=["prepro", "extract", "decode", "train"],
                        help="workloads to run (train only when named)")
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
    parser.add_argument("--decode_threads", type=int, default=1,
                        help="decode: torch threads of both sides (their default on this box "
                        "is one per core)")
    parser.add_argument("--train_steps", type=int, default=60, help="train: optimizer steps")
    parser.add_argument("--train_batch", type=int, default=32, help="train: examples per step")
    parser.add_argument("--train_optimizers", nargs="+", default=["adamw"],
                        choices=["adamw", "original"],
                        help="train: our --optimizer(s); 'original' (our BERT-Adam, the "
                        "original's update rule) runs as OURS_bert_adam")
    parser.add_argument("--train_lines", type=int, default=4000,
                        help="train: TSV lines (4000: about 120 steps of 32 in one epoch)")
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
                                           args.new_tokens, args.repeats, args.decode_threads)
        if "train" in args.pairs:
            (work / "train").mkdir(exist_ok=True)
            result["train"] = train_pair(original, ours, work / "train", args.train_lines,
                                         args.train_steps, args.train_batch, args.repeats,
                                         args.train_optimizers)
    result["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
