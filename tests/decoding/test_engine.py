"""The decoding engine: greedy equal to Hugging Face ``generate`` for both model kinds, through
continuous batching (requests arriving at different steps, prompts in chunks, rows leaving)."""

from __future__ import annotations

import pytest
import torch
from test_greedy import contexts, hf_greedy

from dialogpt.decoding.engine import Engine, Request, SamplingParams
from dialogpt.tokenization import GPT2_EOS_ID


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
