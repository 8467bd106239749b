"""MMI reranking: the choice rule, the scorer's arithmetic, and a reverse model of known taste."""

from __future__ import annotations

import math
import random

import pytest
import torch
from tiny_models import seeded_init_

from dialogpt.decoding.generation import Decoder
from dialogpt.decoding.options import DecodingOptions
from dialogpt.decoding.rerank import MMIRanker, choose_index
from dialogpt.tokenization import GPT2_EOS_ID

# (candidate, source) pairs the reverse model is trained on, in prepro --reverse order:
# "candidate EOS source EOS". It learns that "yes" follows from "hello there" and "no" from
# "goodbye", so P(source | candidate) is high only for the matching candidate.
REVERSE_CORPUS = [("yes", "hello there"), ("no", "goodbye")]


def test_choose_index_picks_the_best_first_on_ties():
    rng = random.Random(0)
    assert choose_index([-3.0, -1.0, -2.0], 0.0, rng) == 1
    assert choose_index([-1.0, -1.0], 0.0, rng) == 0
    assert choose_index([-math.inf, -5.0], 0.0, rng) == 1
    assert choose_index([-math.inf, -math.inf], 1.0, rng) == 0
    with pytest.raises(ValueError):
        choose_index([], 0.0, rng)


@pytest.mark.parametrize("temperature, expected", [(1.0, 0.75), (0.5, 0.9)])
def test_choose_index_samples_from_softmax_at_temperature(temperature, expected):
    # scores (0, ln 3): softmax(s / T) gives P(1) = 3/4 at T=1 and 9/10 at T=1/2.
    rng = random.Random(1234)
    draws = 4000
    hits = sum(choose_index([0.0, math.log(3.0)], temperature, rng) for _ in range(draws))
    sd = math.sqrt(draws * expected * (1 - expected))
    assert abs(hits - draws * expected) < 5 * sd


def log_prob_one_by_one(model, ids, prefix):
    """sum_t>=prefix log p(ids[t] | ids[:t]), each prefix run alone (no batching, no padding)."""
    total = 0.0
    with torch.no_grad():
        for t in range(prefix, len(ids)):
            logits = model(input_ids=torch.tensor([ids[:t]])).logits[0, -1].double()
            total += float(torch.log_softmax(logits, dim=-1)[ids[t]])
    return total


def test_sequence_log_probs_match_unbatched_arithmetic(tiny_model, tokenizer):
    ranker = MMIRanker(tiny_model, tokenizer, tokens_per_batch=16)  # forces several batches
    inputs = [([11, 12, GPT2_EOS_ID, 13, 14, GPT2_EOS_ID], 3), ([20, GPT2_EOS_ID, 21], 2),
              ([30, 31, 32, 33, GPT2_EOS_ID, 34, 35, 36, GPT2_EOS_ID], 5), ([40, GPT2_EOS_ID], 2)]
    got = ranker.sequence_log_probs(inputs)
    for value, (ids, prefix) in zip(got, inputs):
        assert value == pytest.approx(log_prob_one_by_one(tiny_model, ids, prefix), abs=1e-4)
    assert got[3] == 0.0  # nothing after the prefix: log P(empty) = 0


@pytest.fixture(scope="module")
def reverse_model(tokenizer):
    """A tiny backward model trained to memorise REVERSE_CORPUS (about a second on one core)."""
    from transformers import GPT2Config, GPT2LMHeadModel

    model = seeded_init_(GPT2LMHeadModel(GPT2Config(n_embd=16, n_layer=1, n_head=1,
                                                    n_positions=32)), seed=0)
    rows = [tokenizer.encode(candidate) + [GPT2_EOS_ID] + tokenizer.encode(source) + [GPT2_EOS_ID]
            for candidate, source in REVERSE_CORPUS]
    width = max(map(len, rows))
    ids = torch.tensor([row + [GPT2_EOS_ID] * (width - len(row)) for row in rows])
    labels = torch.tensor([row + [-100] * (width - len(row)) for row in rows])
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-2)
    torch.manual_seed(0)   # dropout
    model.train()
    for _ in range(80):
        optimizer.zero_grad()
        model(input_ids=ids, labels=labels).loss.backward()
        optimizer.step()
    return model.eval()


def test_mmi_scores_prefer_the_candidate_the_reverse_model_was_taught(reverse_model, tokenizer):
    ranker = MMIRanker(reverse_model, tokenizer)
    scores = ranker.score([["hello there"], ["goodbye"]], [["no", "yes"], ["yes", "no"]])
    assert scores[0][1] > scores[0][0] + 1.0
    assert scores[1][1] > scores[1][0] + 1.0
    # the score is log P(source | candidate): input "yes EOS hello there EOS", source scored
    ids = tokenizer.encode("yes") + [GPT2_EOS_ID] + tokenizer.encode("hello there") + [GPT2_EOS_ID]
    assert scores[0][1] == pytest.approx(log_prob_one_by_one(reverse_model, ids, 2), abs=1e-4)


def test_decoder_returns_the_candidate_the_reverse_model_scores_highest(
        tiny_model, reverse_model, tokenizer):
    class Recording(MMIRanker):
        def score(self, contexts, candidates):
            self.seen = (contexts, candidates)
            self.result = super().score(contexts, candidates)
            return self.result

    ranker = Recording(reverse_model, tokenizer)
    options = DecodingOptions(decoding="sample", top_k=20, num_candidates=6, max_length=4)
    decoder = Decoder(tiny_model, tokenizer, options, ranker)
    torch.manual_seed(0)
    histories = [["hello there"], ["a", "goodbye"]]
    responses = decoder.respond(histories)
    contexts, candidates = ranker.seen
    assert contexts == histories
    for response, group, scores in zip(responses, candidates, ranker.result):
        assert response.candidates == group and response.scores == scores and len(group) == 6
        assert len(set(scores)) > 1
        assert response.text == group[max(range(6), key=lambda i: scores[i])]


def test_a_custom_ranker_plugs_in(tiny_model, tokenizer):
    class PreferShortest:
        def score(self, contexts, candidates):
            return [[-float(len(text)) for text in group] for group in candidates]

    options = DecodingOptions(decoding="sample", top_k=50, num_candidates=5, max_length=6)
    decoder = Decoder(tiny_model, tokenizer, options, PreferShortest())
    response = decoder.respond([["hi there"]])[0]
    assert response.text == min(response.candidates, key=len)
