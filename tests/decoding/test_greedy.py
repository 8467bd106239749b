"""``greedy_generate``: token for token what Hugging Face ``generate`` gives, through chunked
prefills, joined caches, several groups and rows leaving at EOS."""

from __future__ import annotations

import pytest
import torch
from test_generation import position_clock_model

from dialogpt.decoding import greedy
from dialogpt.decoding.greedy import greedy_generate, spans
from dialogpt.tokenization import GPT2_EOS_ID


def hf_greedy(model, context, max_new_tokens):
    """The model card's way: one unpadded context through ``generate``, cut before EOS."""
    input_ids = torch.tensor([context])
    output = model.generate(input_ids, attention_mask=torch.ones_like(input_ids),
                            max_new_tokens=max_new_tokens, do_sample=False,
                            pad_token_id=GPT2_EOS_ID, eos_token_id=GPT2_EOS_ID)
    new = output[0, len(context):].tolist()
    return new[:new.index(GPT2_EOS_ID)] if GPT2_EOS_ID in new else new


def contexts(count, seed=0):
    generator = torch.Generator().manual_seed(seed)
    lengths = torch.randint(1, 40, (count,), generator=generator).tolist()
    return [torch.randint(0, 50000, (n,), generator=generator).tolist() for n in lengths]


def test_spans_cap_rows_times_the_first_length():
    assert spans([10, 9, 5, 5, 2], 20) == [(0, 2), (2, 5)]
    assert spans([30, 3], 20) == [(0, 1), (1, 2)]  # one row over the budget still runs
    assert spans([], 20) == []


@pytest.mark.parametrize("prefill_tokens,cache_tokens", [(1024, 16384), (40, 200), (1, 1)],
                         ids=["one-chunk", "chunks-and-groups", "one-row-each"])
def test_equals_generate_one_context_at_a_time(tiny_model, monkeypatch, prefill_tokens,
                                               cache_tokens):
    monkeypatch.setattr(greedy, "PREFILL_TOKENS", prefill_tokens)
    monkeypatch.setattr(greedy, "CACHE_TOKENS", cache_tokens)
    batch = contexts(12)
    expected = [hf_greedy(tiny_model, context, 9) for context in batch]
    assert greedy_generate(tiny_model, batch, 9, GPT2_EOS_ID) == expected
    assert len({tuple(ids) for ids in expected}) > 1


def test_rows_leave_at_eos_with_their_own_positions(monkeypatch):
    """The position clock says EOS at position 12: a context of L tokens gets 12 - L + 1 tokens
    (the last one EOS, cut), so rows stop at different steps while the others go on."""
    monkeypatch.setattr(greedy, "PREFILL_TOKENS", 8)  # several chunks, joined left-padded
    model = position_clock_model(stop=12)
    batch = [[5] * n for n in (1, 7, 3, 11, 12, 2)]
    got = greedy_generate(model, batch, 20, GPT2_EOS_ID)
    assert got == [[1000 + p for p in range(len(c) - 1, 12)] for c in batch]
    assert got == [hf_greedy(model, context, 20) for context in batch]
