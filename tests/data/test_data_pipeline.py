"""The prepro hot path (``dialogpt.data.pipeline``) against the general rules it short-cuts, the
GPT-2 ``tiktoken`` encoder against Hugging Face's tokenizer, and the DB bytes against the DB the
code wrote before the fast path existed (a regression pin; its content is checked elsewhere)."""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import random
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dialogpt.data.features import (BadLine, WindowStats, build_features, parse_line,
                                    select_turns)
from dialogpt.data.lines import decode_line
from dialogpt.data.pipeline import FeatureConfig, process_chunk
from packing_reference import encode_features

REPO = Path(__file__).resolve().parents[2]


class CharEncoder:
    """One id per character (an empty-safe stand-in for a BPE); EOS 0."""

    eos_id = 0

    def encode_batch(self, texts):
        return [[ord(c) % 1000 + 1 for c in text] for text in texts]


def general_rules(first_line, raw_lines, encoder, config):
    """What a chunk must produce, from the general rules only (decode_line, parse_line,
    select_turns, build_features, encode_features), line by line."""
    skips, features, window, written, crlf, bom = [], [], WindowStats(), 0, 0, 0
    for line_number, raw in enumerate(raw_lines, start=first_line):
        try:
            decoded = decode_line(raw)
            crlf += decoded.crlf
            bom += decoded.bom
            parsed = parse_line(decoded.text)
            turns = select_turns(parsed.context, parsed.responses[0], config.reverse,
                                 config.two_turn)
            if len(turns) < 2:
                raise BadLine("single_turn")
        except BadLine as exc:
            skips.append((line_number, exc.reason, exc.detail))
            continue
        built = build_features(encoder.encode_batch([text for _, text in turns]),
                               [weight for weight, _ in turns], encoder.eos_id,
                               config.max_seq_len)
        window.add(built.stats)
        if built.features:
            features.extend(built.features)
            written += 1
        else:
            skips.append((line_number, "all_zero_weights" if built.stats.all_zero_windows
                          else "too_long", ""))
    encoded = encode_features(features, config.token_dtype, config.length_dtype)
    labelled = sum(end - start for f in features for start, end, _ in f.spans)
    return encoded, sorted(skips), window, written, crlf, bom, labelled


_pieces = st.sampled_from(["1.0", "0.0", "0.5", "1", "-1", "1e999", "nan", "hi", "a b",
                           "  ", " EOS ", "\t", "x" * 30, "é", "\r", "\ufeff", ".", "0", "\x1c",
                           "\xa0", "\u2028", "1.0 a", "0.0 b", "EOS"])
_line = st.lists(_pieces, max_size=12).map(lambda parts: " ".join(parts).encode("utf-8"))
_raw = st.one_of(_line.map(lambda b: b + b"\n"), _line.map(lambda b: b + b"\r\n"), _line,
                 _line.map(lambda b: b"\xef\xbb\xbf" + b + b"\n"),
                 st.just(b"\xff\xfe bad\t1.0 x\n"), st.just(None))


@settings(max_examples=300, deadline=None)
@given(raw_lines=st.lists(_raw, max_size=12), max_len=st.integers(2, 40),
       reverse=st.booleans(), two_turn=st.booleans())
def test_hot_path_equals_the_general_rules(raw_lines, max_len, reverse, two_turn):
    config = FeatureConfig(max_len, reverse, two_turn, "uint16", "uint16")
    encoder = CharEncoder()
    result = process_chunk(7, raw_lines, encoder, config)
    encoded, skips, window, written, crlf, bom, labelled = general_rules(7, raw_lines, encoder,
                                                                         config)
    for name in ("tokens", "lengths", "label_start", "exc_local", "exc_span_count",
                 "exc_spans", "exc_weights"):
        got, want = getattr(result.encoded, name), getattr(encoded, name)
        assert got.dtype == want.dtype and got.tolist() == want.tolist(), name
    assert result.skips == skips
    assert vars(result.window) == vars(window)
    assert (result.n_lines_written, result.crlf, result.bom, result.n_labelled_tokens) == (
        written, crlf, bom, labelled)
    assert result.n_lines == len(raw_lines)


def test_tiktoken_encoder_equals_the_hugging_face_tokenizer(gpt2_tokenizer):
    from dialogpt.data.encoding import _PROBE, _PROBE_IDS, fast_gpt2_encoder
    from dialogpt.tokenization import GPT2_FINGERPRINT, tokenizer_fingerprint

    backend = gpt2_tokenizer.backend_tokenizer
    backend.encode_special_tokens = True
    try:
        texts = [_PROBE, "Hello there , how are you ?", "<|endoftext|>", "naïve café 42"]
        expected = [backend.encode(t, add_special_tokens=False).ids for t in texts]
    finally:
        backend.encode_special_tokens = False
    assert tuple(expected[0]) == _PROBE_IDS
    encoder = fast_gpt2_encoder()
    assert encoder.encode_batch(texts) == expected
    assert (encoder.eos_id, encoder.vocab_size) == (gpt2_tokenizer.eos_token_id,
                                                    len(gpt2_tokenizer))
    assert tokenizer_fingerprint(gpt2_tokenizer) == GPT2_FINGERPRINT
    assert pickle.loads(pickle.dumps(encoder)).encode_batch(texts) == expected


def golden_corpus(path: Path, n_lines: int = 3000) -> None:
    """Extractor-like lines plus every kind of irregular line, deterministic."""
    rng = random.Random(19)
    words = ["the", "cat", "sat", "on", "a", "mat", "?", "!", "I'm", "don't", "naïve",
             "日本語", "12", "<|endoftext|>", "antidisestablishmentarianism"]
    odd = [b"", b"no tab here", b"1.0 a\t1.0 b\t1.0 c", b"1.0 a EOS  \t1.0 b", b"-1 a\t1.0 b",
           b"\xff\xfe\t1.0 x", b"0.0 a\t0.0 b", b"1.0 a\t0.0 b", b"\xef\xbb\xbf1.0 a\t1.0 b",
           b"0.5 a EOS 0.0 b\t2 c", b"1e999 a\t1.0 b"]
    lines = []
    for i in range(n_lines):
        if i % 50 == 7:
            line = odd[(i // 50) % len(odd)]
        else:
            turns = [" ".join(rng.choice(words) for _ in range(rng.randint(1, 15)))
                     for _ in range(rng.randint(2, 6))]
            weighted = [("0.0 " if rng.random() < 0.1 else "1.0 ") + t for t in turns]
            line = (" EOS ".join(weighted[:-1]) + "\t" + weighted[-1]).encode("utf-8")
        lines.append(line + (b"\r\n" if i % 97 == 3 else b"\n"))
    path.write_bytes(b"".join(lines))


GOLDEN_SHA256 = {
    "00000.exc_index.bin": "2d12ce5f5fc7f4ac04209d43e29d70de9681bb480a39ad5849f53e806e6f4a8d",
    "00000.exc_span_count.bin": "c2567cc24ba97e9bd904a8b11cd51d322fe7ea9d1023f96560de967423920ad7",
    "00000.exc_spans.bin": "d898c5f9c6c3dcf91f3eecb9879394ab1bbeeaacafb158ff9ff266699f5cba46",
    "00000.exc_weights.bin": "f374accffb0ec44801afd386f9c52f457a1192b7bc8a948c229ebfaea4e9165f",
    "00000.label_start.bin": "776354e4fafa6e896baa8e310ae4474d4f62b040f7d4439bd13f869016359f57",
    "00000.lengths.bin": "082d7106ce3885bfb32b4ff77dd51c11087f60933d15a7c78b78f0b00b0116ac",
    "00000.tokens.bin": "31a649ac306a73224632118c5f7a4ff33acf8a2f1afdb0a1d8403c9f5b295776",
    "manifest.json": "08bc6abbf502a195e09d5ac1e1fa4a19bff40d924325f8826e065cd5efb0410f",
}
GOLDEN_SUMMARY_SHA256 = "b49c9d25708429222583793616f71fe24713a81bb4c4d2aed179bdf9d0a08710"
"""sha256 of every DB file written by prepro before the hot path and the tiktoken-only
encoder (commit e35a96c), for ``golden_corpus``, ``--max_seq_len 64``."""


@pytest.mark.parametrize("workers", [1, 2])
def test_db_bytes_equal_those_written_before_the_hot_path(tmp_path, workers):
    corpus = tmp_path / "golden.tsv"
    golden_corpus(corpus)
    db = tmp_path / "golden.db"
    subprocess.run([sys.executable, str(REPO / "prepro.py"), "--corpus", str(corpus),
                    "--output", str(db), "--max_seq_len", "64", "--workers", str(workers),
                    "--chunk_lines", "400"], check=True, capture_output=True,
                   env={**os.environ, "PYTHONPATH": str(REPO)})
    got = {path.name: hashlib.sha256(path.read_bytes()).hexdigest()
           for path in sorted(db.iterdir()) if path.name != "summary.json"}
    assert got == GOLDEN_SHA256
    summary = json.loads((db / "summary.json").read_text())
    for volatile in ("corpus", "db", "seconds", "lines_per_second"):
        del summary[volatile]
    assert hashlib.sha256(json.dumps(summary, sort_keys=True).encode()).hexdigest() == \
        GOLDEN_SUMMARY_SHA256


def test_default_tokenizer_path_imports_no_transformers_and_leaves_no_process(tmp_path):
    """prepro with the default GPT-2 BPE never imports transformers/torch (start-up), and after
    a 2-worker run the process has no child left (workers and helpers reaped)."""
    corpus = tmp_path / "c.tsv"
    golden_corpus(corpus, 600)
    script = f"""
import os, sys
from dialogpt.data.prepro import main
assert main(["--corpus", {str(corpus)!r}, "--workers", "2", "--chunk_lines", "100"]) == 0
assert not {{"transformers", "torch"}} & set(sys.modules), sorted({{"transformers", "torch"}} & set(sys.modules))
children = [p for p in os.listdir("/proc") if p.isdigit() and
            open(f"/proc/{{p}}/stat").read().rsplit(")", 1)[1].split()[1] == str(os.getpid())]
assert children == [], children
"""
    subprocess.run([sys.executable, "-c", script], check=True, cwd=tmp_path,
                   env={**os.environ, "PYTHONPATH": str(REPO)})
