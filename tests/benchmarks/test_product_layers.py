"""``benchmarks/bench_engine.py``'s ``product_layers`` counts the weights a token needs, neither
more nor fewer.

``bench_engine.py``'s floor and ``bench_ceiling.py``'s ceiling are only bounds if their products
are the model's: these tests count the weights applied per prompt token and per generated token
against the architectures' own formulas (nothing is timed).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the benchmarks/ folder's parent
from benchmarks.bench_engine import product_layers, weight_count  # noqa: E402


def test_t5_reads_the_source_once_and_the_decoder_every_step():
    from transformers import T5Config, T5ForConditionalGeneration

    d, ff, heads, kv, vocab, encoder, decoder = 16, 40, 2, 6, 50, 3, 2
    model = T5ForConditionalGeneration(T5Config(
        vocab_size=vocab, d_model=d, d_ff=ff, num_heads=heads, d_kv=kv, num_layers=encoder,
        num_decoder_layers=decoder, tie_word_embeddings=False))
    inner = heads * kv
    per_prompt, per_step = product_layers(model)
    # encoder: q, k, v, o and the feed-forward; decoder: the cross-attention's keys and values
    assert weight_count(per_prompt) == (encoder * (4 * d * inner + 2 * d * ff)
                                        + decoder * 2 * d * inner)
    # decoder: self-attention's q, k, v, o, cross-attention's q, o, the feed-forward; the head
    assert weight_count(per_step) == decoder * (6 * d * inner + 2 * d * ff) + vocab * d
    assert not any(transposed for _, transposed in per_prompt + per_step)


def test_gpt2_reads_the_prompt_and_every_step_through_the_whole_body():
    from transformers import GPT2Config, GPT2LMHeadModel

    d, layers, vocab = 16, 3, 50
    model = GPT2LMHeadModel(GPT2Config(vocab_size=vocab, n_embd=d, n_layer=layers, n_head=2,
                                       n_positions=32))
    per_prompt, per_step = product_layers(model)
    body = layers * (3 * d * d + d * d + 4 * d * d + 4 * d * d)  # c_attn, c_proj, c_fc, c_proj
    assert weight_count(per_prompt) == body
    assert weight_count(per_step) == body + vocab * d
    assert all(transposed for _, transposed in per_prompt)  # Conv1D keeps [in, out]
