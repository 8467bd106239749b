"""The decoding engine: greedy equal to Hugging Face ``generate`` for both model kinds, through
continuous batching (requests arriving at different steps, prompts in chunks, rows leaving)."""

from __future__ import annotations

import pytest
import torch
from test_generation import position_clock_model

from dialogpt.decoding.engine import Engine, Request, SamplingParams
from dialogpt.tokenization import GPT2_EOS_ID


def hf_greedy(model, context, max_new_tokens, **extra):
    """The model card's way: one unpadded context through ``generate``, cut before EOS."""
    input_ids = torch.tensor([context])
    output = model.generate(input_ids, attention_mask=torch.ones_like(input_ids),
                            max_new_tokens=max_new_tokens, do_sample=False,
                            pad_token_id=GPT2_EOS_ID, eos_token_id=GPT2_EOS_ID, **extra)
    new = output[0, len(context):].tolist()
    return new[:new.index(GPT2_EOS_ID)] if GPT2_EOS_ID in new else new


def contexts(count, seed=0):
    generator = torch.Generator().manual_seed(seed)
    lengths = torch.randint(1, 40, (count,), generator=generator).tolist()
    return [torch.randint(0, 50000, (n,), generator=generator).tolist() for n in lengths]


def greedy(max_new_tokens, **kwargs):
    return SamplingParams(max_new_tokens=max_new_tokens, **kwargs)


def staggered(engine, requests, arrivals):
    """Add ``requests[i]`` before step ``arrivals[i]``; step to the end; completions in order."""
    done, step = {}, 0
    pending = sorted(zip(arrivals, range(len(requests))))
    while pending or engine.has_work():
        while pending and pending[0][0] <= step:
            engine.add(requests[pending.pop(0)[1]])
        for event in engine.step():
            if event.finished:
                done[event.request_id] = event.completion
        step += 1
    return [done[request.request_id] for request in requests]


@pytest.mark.parametrize("max_rows,prefill_tokens", [(64, 256), (3, 16), (1, 1)],
                         ids=["one-batch", "rows-and-chunks", "one-row-one-token"])
def test_greedy_equals_generate_one_context_at_a_time(tiny_model, max_rows, prefill_tokens):
    batch = contexts(10)
    expected = [hf_greedy(tiny_model, context, 9) for context in batch]
    engine = Engine(tiny_model, eos_id=GPT2_EOS_ID, max_rows=max_rows,
                    prefill_tokens=prefill_tokens)
    got = engine.run([Request(context, greedy(9)) for context in batch])
    assert [c.token_ids for c in got] == expected
    assert len({tuple(ids) for ids in expected}) > 1
    assert not engine.has_work() and not engine.running


def test_requests_arriving_at_different_steps(tiny_model):
    batch = contexts(8, seed=3)
    limits = [3, 12, 5, 9, 1, 7, 12, 2]
    engine = Engine(tiny_model, eos_id=GPT2_EOS_ID, max_rows=4, prefill_tokens=24)
    got = staggered(engine, [Request(c, greedy(n)) for c, n in zip(batch, limits)],
                    [0, 0, 1, 2, 2, 5, 6, 9])
    assert [c.token_ids for c in got] == [hf_greedy(tiny_model, c, n)
                                          for c, n in zip(batch, limits)]
    assert [c.finish_reason for c in got] == ["length"] * len(batch)


@pytest.mark.parametrize("extra", [{"min_new_tokens": 6}, {"repetition_penalty": 1.4},
                                   {"no_repeat_ngram_size": 2}],
                         ids=["min-tokens", "repetition-penalty", "no-repeat-ngram"])
def test_greedy_with_processors_equals_generate(tiny_model, extra):
    batch = contexts(5, seed=5)
    engine = Engine(tiny_model, eos_id=GPT2_EOS_ID, max_rows=2, prefill_tokens=16)
    got = engine.run([Request(c, greedy(10, **extra)) for c in batch])
    assert [c.token_ids for c in got] == [hf_greedy(tiny_model, c, 10, **extra) for c in batch]


def test_rows_leave_at_eos_with_their_own_positions():
    """The position clock says EOS at position 12: a context of L tokens gets the tokens of
    positions L-1 ... 11, then EOS, whatever rows decode beside it."""
    model = position_clock_model(stop=12)
    batch = [[5] * n for n in (1, 7, 3, 11, 12, 2)]
    got = Engine(model, eos_id=GPT2_EOS_ID, max_rows=4, prefill_tokens=8).run(
        [Request(c, greedy(20)) for c in batch])
    assert [c.token_ids for c in got] == [[1000 + p for p in range(len(c) - 1, 12)]
                                          for c in batch]
    assert [c.finish_reason for c in got] == ["eos"] * len(batch)


def test_seeded_sampling_does_not_depend_on_the_batch(tiny_model):
    batch = contexts(6, seed=4)
    params = [SamplingParams(max_new_tokens=n, sample=True, top_k=k, top_p=p, temperature=t,
                             seed=100 + i)
              for i, (n, k, p, t) in enumerate([(8, 0, 1.0, 1.0), (12, 20, 1.0, 0.7),
                                                (5, 0, 0.9, 1.0), (10, 5, 0.8, 1.3),
                                                (3, 50, 1.0, 1.0), (9, 0, 0.5, 2.0)])]
    alone = [Engine(tiny_model, eos_id=GPT2_EOS_ID).run([Request(c, p)])[0].token_ids
             for c, p in zip(batch, params)]
    engine = Engine(tiny_model, eos_id=GPT2_EOS_ID, max_rows=3, prefill_tokens=20)
    together = staggered(engine, [Request(c, p) for c, p in zip(batch, params)],
                         [0, 1, 1, 4, 6, 7])
    assert [c.token_ids for c in together] == alone
    reseeded = Engine(tiny_model, eos_id=GPT2_EOS_ID).run(
        [Request(batch[0], SamplingParams(max_new_tokens=8, sample=True, seed=999))])
    assert len({tuple(alone[0]), tuple(reseeded[0].token_ids)}) == 2  # the seed matters


def test_a_long_request_does_not_hold_back_a_short_one(tiny_model):
    engine = Engine(tiny_model, eos_id=GPT2_EOS_ID)
    long, short = Request([11, 12, 13], greedy(40)), Request([21, 22], greedy(4))
    long_done, short_done = staggered(engine, [long, short], [0, 5])
    assert short_done.finished_step - short_done.submitted_step == 4
    assert short_done.finished_step < long_done.finished_step == 40


def test_abort_frees_the_slot_for_a_waiting_request(tiny_model):
    engine = Engine(tiny_model, eos_id=GPT2_EOS_ID, max_rows=1)
    first, second = Request([1, 2, 3], greedy(30)), Request([4, 5], greedy(3))
    engine.add(first)
    engine.add(second)
    for _ in range(3):
        assert all(e.request_id == first.request_id for e in engine.step())
    assert len(engine.waiting) == 1
    event = engine.abort(first.request_id)
    assert event.finished and event.finish_reason == "abort"
    assert event.completion.token_ids and len(event.completion.token_ids) == 3
    assert not engine.running and engine.abort(first.request_id) is None
    events = engine.step()
    assert [e.request_id for e in events] == [second.request_id]
    assert len(engine.running) == 1 and not engine.waiting


def test_logprobs_are_the_model_log_softmax(tiny_model):
    context = contexts(1, seed=9)[0]
    (completion,) = Engine(tiny_model, eos_id=GPT2_EOS_ID, prefill_tokens=7).run([Request(
        context, SamplingParams(max_new_tokens=6, logprobs=3, prompt_logprobs=2))])
    ids = context + completion.token_ids
    with torch.inference_mode():
        logits = tiny_model(torch.tensor([ids])).logits[0].double()
    reference = torch.log_softmax(logits, -1)
    assert completion.prompt_logprobs[0] is None
    assert len(completion.prompt_logprobs) == len(context)
    assert len(completion.logprobs) == 6
    entries = [*completion.prompt_logprobs[1:], *completion.logprobs]
    for position, entry in enumerate(entries):  # row ``position`` predicts token position + 1
        assert entry.token_id == ids[position + 1]
        assert entry.logprob == pytest.approx(float(reference[position, entry.token_id]),
                                              abs=1e-4)
        best = reference[position].topk(len(entry.top))
        assert [t for t, _ in entry.top] == best.indices.tolist()
        assert [v for _, v in entry.top] == pytest.approx(best.values.tolist(), abs=1e-4)
    assert len(completion.logprobs[0].top) == 3 and len(completion.prompt_logprobs[1].top) == 2


def test_scoring_a_prompt_without_new_tokens(tiny_model):
    (completion,) = Engine(tiny_model, eos_id=GPT2_EOS_ID).run(
        [Request([7, 8, 9], SamplingParams(max_new_tokens=0, prompt_logprobs=0))])
    assert completion.token_ids == [] and completion.finish_reason == "length"
    assert [e.token_id for e in completion.prompt_logprobs[1:]] == [8, 9]


@pytest.mark.slow
def test_int8_model_decodes_as_generate_does(tiny_model_dir):
    from dialogpt.decoding.quantize import quantize_int8
    from dialogpt.modeling import load_model

    model = quantize_int8(load_model(tiny_model_dir).eval())
    assert "DynamicQuantizedLinear" in repr(model.transformer.h[0].attn.c_attn)
    batch = contexts(4, seed=8)
    # One request at a time: dynamic quantization scales each call's activations by their own
    # range, so batch neighbours move the numbers (int8 output depends on the batch).
    got = Engine(model, eos_id=GPT2_EOS_ID, max_rows=1).run(
        [Request(c, greedy(8)) for c in batch])
    assert [c.token_ids for c in got] == [hf_greedy(model, c, 8) for c in batch]


def test_rows_beyond_one_attention_group_decode_as_one_at_a_time(tiny_model):
    """Decoding rows attend in groups of ``DECODE_GROUP`` slots, each over its own width: more
    rows than two groups, mixed lengths, longest first (as ``Decoder`` submits them) and not."""
    from dialogpt.decoding.engine.causal import DECODE_GROUP

    batch = contexts(2 * DECODE_GROUP + 3, seed=3)
    expected = [hf_greedy(tiny_model, context, 6) for context in batch]
    for order in (sorted(batch, key=len, reverse=True), batch):
        got = Engine(tiny_model, eos_id=GPT2_EOS_ID).run([Request(c, greedy(6)) for c in order])
        assert [c.token_ids for c in got] == [expected[batch.index(c)] for c in order]


def test_attention_groups_read_each_group_to_its_longest_row(monkeypatch):
    from dialogpt.decoding.engine import causal

    monkeypatch.setattr(causal, "DECODE_GROUP", 2)
    groups = causal.attention_groups(torch.tensor([9, 7, 7, 3, 2]))
    assert [(g[0], g[1]) for g in groups] == [(slice(0, 2), 10), (slice(2, 4), 8),
                                              (slice(4, 5), 3)]
    assert groups[1][2].shape == (2, 1, 1, 8)
    assert groups[1][2][1, 0, 0].tolist() == [True] * 4 + [False] * 4


def test_an_interrupted_run_leaves_the_engine_clean(tiny_model):
    engine = Engine(tiny_model, eos_id=GPT2_EOS_ID)

    def interrupt(event):
        if event.index == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        engine.run([Request([1, 2, 3], greedy(20)), Request([4, 5], greedy(20))], interrupt)
    assert not engine.has_work()
    (again,) = engine.run([Request([1, 2, 3], greedy(5))])
    assert again.token_ids == hf_greedy(tiny_model, [1, 2, 3], 5)


def test_output_layer_few_rows_equal_the_head_and_follow_weight_changes(tiny_model):
    """One or two rows multiply by a transposed copy of the head's weight (MKL's faster
    matrix-vector layout on CPU); more rows take the sliced product. Both equal ``lm_head``; the
    copy is remade when the weight changes in place."""
    import copy

    from dialogpt.decoding.engine.causal import FEW_ROWS, OutputLayer

    model = copy.deepcopy(tiny_model)
    output = OutputLayer(model)
    hidden = torch.randn(FEW_ROWS + 3, model.config.n_embd,
                         generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        for rows in (1, FEW_ROWS, FEW_ROWS + 3):
            expected = model.lm_head(hidden[:rows])
            torch.testing.assert_close(output(hidden[:rows]), expected, rtol=1e-5, atol=1e-5)
        model.lm_head.weight.mul_(-2.0)
        torch.testing.assert_close(output(hidden[:1]), model.lm_head(hidden[:1]),
                                   rtol=1e-5, atol=1e-5)


def test_gelu_tanh_is_gpt2s_gelu_new():
    from transformers.activations import NewGELUActivation

    from dialogpt.decoding.engine.causal import gelu_tanh

    x = torch.linspace(-12, 12, 4001, dtype=torch.float64)
    reference = NewGELUActivation()(x)
    assert torch.allclose(gelu_tanh(x), reference, rtol=0, atol=1e-12)
    x32 = x.float()
    assert torch.allclose(gelu_tanh(x32), reference.float(), rtol=0, atol=2e-6)
