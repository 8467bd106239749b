"""prepro.py throughput on a generated Reddit-like TSV, against raw ``tokenizers`` batch encoding.

    python benchmarks/run.py prepro [--lines 100000] [--workers N]

The corpus is generated deterministically at run time (never committed): extractor-style lines,
every turn prefixed ``0.0``/``1.0``, 1-6 context turns, words drawn Zipf-like from GPT-2's own
vocabulary (a quarter glued into multi-piece words) with punctuation. Printed figures: prepro
lines/s and tokens/s (processing, and wall time including start-up in a fresh process), bytes per
token of the DB on disk, peak RSS of the prepro process tree, and the same text encoded by the
bare Rust batch encoder in this process (the ratio says what our parsing, windowing and writing
cost on top of tokenisation). The original prepro managed ~1,100 lines/s on this kind of machine.
"""

from __future__ import annotations

import argparse
import json
import os
import random
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
    rng = random.Random(seed)
    weights = [1.0 / (rank + 10) for rank in range(len(words))]
    pool = rng.choices(words, weights, k=200_000)
    punctuation = [".", ",", "?", "!", "...", ":)", ""]

    def turn() -> str:
        n_words = min(80, max(1, int(rng.expovariate(1 / 14))))
        out = []
        for _ in range(n_words):
            word = rng.choice(pool)
            if rng.random() < 0.25:
                word += rng.choice(pool)
            if rng.random() < 0.12:
                word += rng.choice(punctuation)
            out.append(word)
        weight = "0.0" if rng.random() < 0.05 else "1.0"
        return f"{weight} {' '.join(out)}"

    with open(path, "w", encoding="utf-8") as out:
        for _ in range(n_lines):
            context = " EOS ".join(turn() for _ in range(rng.randint(1, 6)))
            out.write(f"{context}\t{turn()}\n")


def _turn_texts(path: Path) -> list[str]:
    texts = []
    with open(path, encoding="utf-8") as lines:
        for line in lines:
            context, response = line.rstrip("\n").split("\t")
            texts.extend(turn.split(" ", 1)[1] for turn in context.split(" EOS "))
            texts.append(response.split(" ", 1)[1])
    return texts


def main(argv: list[str] | None = None) -> int:
    from dialogpt.data.prepro import default_workers
    from dialogpt.tokenization import load_tokenizer

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=100_000, help="corpus lines")
    parser.add_argument("--workers", type=int, default=default_workers(), help="prepro workers")
    parser.add_argument("--max_seq_len", type=int, default=128, help="prepro --max_seq_len")
    parser.add_argument("--seed", type=int, default=0, help="corpus generator seed")
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
        "speedup_vs_original_1100": round(lines_per_s / 1100, 1),
    }))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    raise SystemExit(main())
