"""The decoding engine with a GODEL-shaped T5: greedy (with and without processors) equal to
Hugging Face ``generate`` on each source alone, sources of different lengths joining at
different steps, encoder outputs cached per request."""

from __future__ import annotations

import pytest
import torch
from test_engine import staggered
from test_generation_seq2seq import hf_alone

from dialogpt.decoding.engine import Engine, Request, SamplingParams

SOURCES = ["[CONTEXT] what looks the cat ? [KNOWLEDGE] the cat is red",
           "[CONTEXT] hello EOS what sings the bird ? [KNOWLEDGE] the bird sings",
           "[CONTEXT] x",
           "[CONTEXT] what moves the boat ? [KNOWLEDGE] the boat is blue and moves near the "
           "river and the tree is green",
           "[CONTEXT] lamp [KNOWLEDGE] the lamp is red"]


@pytest.fixture(scope="module")
def t5(tiny_t5_dir):
    from dialogpt.modeling import load_model
    from dialogpt.tokenization import load_tokenizer

    return load_model(tiny_t5_dir).eval(), load_tokenizer(tiny_t5_dir)


@pytest.mark.parametrize("params,extra", [
    (SamplingParams(max_new_tokens=10), {}),
    (SamplingParams(max_new_tokens=10, min_new_tokens=6), {"min_new_tokens": 6}),
    (SamplingParams(max_new_tokens=10, repetition_penalty=1.3, no_repeat_ngram_size=2),
     {"repetition_penalty": 1.3, "no_repeat_ngram_size": 2}),
], ids=["greedy", "min-tokens", "penalties"])
def test_greedy_equals_generate_alone(t5, params, extra):
    model, tokenizer = t5
    expected = [hf_alone(model, tokenizer, source, 10, **extra) for source in SOURCES]
    engine = Engine(model, tokenizer, max_rows=3, encode_tokens=40)
    requests = [Request(tokenizer(source).input_ids, params) for source in SOURCES]
    got = staggered(engine, requests, [0, 0, 1, 3, 4])
    assert [c.token_ids for c in got] == expected
    assert any(c.finish_reason == "eos" for c in got) or params.min_new_tokens
    assert len({tuple(ids) for ids in expected}) > 2


def test_cross_attention_groups_read_each_rows_own_source(t5):
    """More rows than two attention groups (``DECODE_GROUP`` slots each reading its longest
    source), sources of mixed lengths, longest first and not: as each source alone."""
    from dialogpt.decoding.engine.causal import DECODE_GROUP

    model, tokenizer = t5
    sources = [SOURCES[i % len(SOURCES)] + " the cat" * (i % 4) for i in range(2 * DECODE_GROUP + 3)]
    expected = {source: hf_alone(model, tokenizer, source, 6) for source in set(sources)}
    for order in (sorted(sources, key=len, reverse=True), sources):
        got = Engine(model, tokenizer).run(
            [Request(tokenizer(source).input_ids, SamplingParams(max_new_tokens=6))
             for source in order])
        assert [c.token_ids for c in got] == [expected[source] for source in order]


def test_prompt_logprobs_are_refused_for_seq2seq(t5):
    model, tokenizer = t5
    engine = Engine(model, tokenizer)
    with pytest.raises(ValueError, match="causal"):
        engine.add(Request([5, 6, 1], SamplingParams(prompt_logprobs=1)))


def test_logprobs_are_the_decoder_log_softmax(t5):
    model, tokenizer = t5
    ids = tokenizer(SOURCES[0]).input_ids
    (completion,) = Engine(model, tokenizer).run(
        [Request(ids, SamplingParams(max_new_tokens=5, logprobs=2))])
    decoder_ids = [model.config.decoder_start_token_id, *completion.token_ids]
    with torch.inference_mode():
        logits = model(input_ids=torch.tensor([ids]),
                       decoder_input_ids=torch.tensor([decoder_ids])).logits[0]
    reference = torch.log_softmax(logits.double(), -1)
    for position, entry in enumerate(completion.logprobs):
        assert entry.token_id == decoder_ids[position + 1] if position + 1 < len(
            decoder_ids) else True
        assert entry.logprob == pytest.approx(float(reference[position, entry.token_id]),
                                              abs=1e-4)
        best = reference[position].topk(2)
        assert [t for t, _ in entry.top] == best.indices.tolist()
