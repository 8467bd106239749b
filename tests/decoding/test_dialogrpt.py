"""DialogRPT reranking with a tiny random classifier whose preference is known by construction.

The classifier's blocks write nothing (attention and MLP output projections zeroed) and it has no
position embeddings, so its last hidden state is ``ln_f(wte[last token])``; its score head is that
same vector for one chosen token. It therefore prefers, above every other candidate, a response
ending in that token (cosine similarity 1 against random directions). Scores are also pinned to
the published model-card recipe run directly: ``model(tokenizer.encode(context + "<|endoftext|>"
+ response)).logits``, unbatched.
"""

from __future__ import annotations

import math
import random

import pytest
from tiny_models import seeded_init_

from dialogpt.cli import UserError
from dialogpt.decoding.dialogrpt import (CombinedRanker, DialogRPTRanker, build_ranker,
                                         load_dialogrpt)
from dialogpt.decoding.rerank import choose_index

PREFERRED = " yes"


def build_classifier(tokenizer, n_positions=64, seed=0):
    import torch
    from transformers import GPT2Config, GPT2ForSequenceClassification

    config = GPT2Config(n_embd=16, n_layer=2, n_head=2, n_positions=n_positions, num_labels=1,
                        pad_token_id=tokenizer.eos_token_id)
    model = seeded_init_(GPT2ForSequenceClassification(config), seed, std=0.5).eval()
    with torch.no_grad():
        model.transformer.wpe.weight.zero_()
        for block in model.transformer.h:
            for proj in (block.attn.c_proj, block.mlp.c_proj):
                proj.weight.zero_()
                proj.bias.zero_()
        (token,) = tokenizer.encode(PREFERRED)
        target = model.transformer.ln_f(model.transformer.wte.weight[token])
        model.score.weight.copy_(target[None, :])
    return model


@pytest.fixture(scope="module")
def classifier(tokenizer):
    return build_classifier(tokenizer)


@pytest.fixture(scope="module")
def ranker(classifier, tokenizer):
    return DialogRPTRanker(classifier, tokenizer)


def card_recipe_logit(model, tokenizer, context, response):
    """The model card's scoring, run directly (one sequence, no padding)."""
    import torch

    ids = tokenizer.encode(context + "<|endoftext|>" + response, return_tensors="pt")
    with torch.no_grad():
        return float(model(ids).logits[0, 0])


CONTEXTS = [["do you like tea ?"], ["hi there", "how are you ?", "fine , and you ?"]]
CANDIDATES = [["no", "maybe later , thanks", "yes"],
              ["I am ok", "oh yes", "not really , it has been a long week honestly"]]


def test_scores_equal_the_model_card_recipe(ranker, classifier, tokenizer):
    scores = ranker.score(CONTEXTS, CANDIDATES)
    for turns, group, row in zip(CONTEXTS, CANDIDATES, scores):
        context = "<|endoftext|>".join(turns)
        expected = [card_recipe_logit(classifier, tokenizer, context, c) for c in group]
        assert row == pytest.approx(expected, abs=1e-5)


def test_the_known_preference_wins_in_any_order(ranker):
    rng = random.Random(0)
    for _ in range(5):
        group = ["no", "maybe later", "sure , yes", "I do not know"]
        rng.shuffle(group)
        (scores,) = ranker.score([["do you like tea ?"]], [group])
        assert group[choose_index(scores, 0.0, rng)] == "sure , yes"
        probability = 1 / (1 + math.exp(-max(scores)))  # the card's sigmoid
        assert 0.0 < probability < 1.0


def test_long_contexts_keep_the_most_recent_tokens(tokenizer):
    model = build_classifier(tokenizer, n_positions=16)
    ranker = DialogRPTRanker(model, tokenizer)
    turns = ["one two three four five six seven eight nine ten"] * 3
    ids = ranker.input_ids(turns, "yes")
    assert len(ids) == 16
    assert ids == (sum((tokenizer.encode(t) + [tokenizer.eos_token_id] for t in turns), [])
                   + tokenizer.encode("yes"))[-16:]
    (scores,) = ranker.score([turns], [["yes", ""]])
    assert math.isfinite(scores[0]) and scores[1] == -math.inf  # an empty reply is never chosen


class _Fixed:
    def __init__(self, values):
        self.values = values

    def score(self, contexts, candidates):
        return [list(self.values) for _ in contexts]


def test_combined_with_mmi_is_the_weighted_sum():
    combined = CombinedRanker([(_Fixed([-10.0, -12.0, -11.0]), 1.0),
                               (_Fixed([0.0, 3.0, 0.5]), 2.0)])
    assert combined.score([["c"]], [["a", "b", "c"]]) == [[-10.0, -6.0, -10.0]]


def test_directory_round_trip_and_flag_errors(classifier, tokenizer, tmp_path):
    import torch

    classifier.save_pretrained(tmp_path / "rpt")
    tokenizer.save_pretrained(tmp_path / "rpt")
    loaded = load_dialogrpt(str(tmp_path / "rpt"), torch.device("cpu"))
    (scores,) = loaded.score([["do you like tea ?"]], [["no", "oh yes"]])
    assert scores[1] > scores[0]
    mmi = _Fixed([0.0, 0.0])
    assert build_ranker(mmi, None, None, 1.0, "cpu") is mmi
    assert isinstance(build_ranker(mmi, "dialogrpt", str(tmp_path / "rpt"), 1.0, "cpu"),
                      CombinedRanker)
    with pytest.raises(UserError, match="needs --ranker_model"):
        build_ranker(None, "dialogrpt", None, 1.0, "cpu")
    with pytest.raises(UserError, match="needs --ranker dialogrpt"):
        build_ranker(None, None, str(tmp_path / "rpt"), 1.0, "cpu")
    with pytest.raises(UserError, match="does not exist"):
        build_ranker(None, "dialogrpt", "models/none/rpt", 1.0, "cpu")


def test_a_classifier_with_several_outputs_is_refused(tokenizer):
    from transformers import GPT2Config, GPT2ForSequenceClassification

    config = GPT2Config(n_embd=8, n_layer=1, n_head=2, n_positions=16, num_labels=3)
    with pytest.raises(UserError, match="one output"):
        DialogRPTRanker(GPT2ForSequenceClassification(config), tokenizer)

