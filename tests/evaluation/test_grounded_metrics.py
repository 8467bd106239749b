"""GODEL's metrics against hand-worked values (nmt's BLEU formula, unigram F1) and rouge_score."""

from __future__ import annotations

import math

import pytest

from dialogpt.evaluation.grounded_metrics import (compute_bleu, corpus_bleu, grounded_scores,
                                                  knowledge_f1, normalize_answer, rouge,
                                                  unigram_f1, unigram_prf)


@pytest.mark.parametrize("text, expected", [
    ("The Cat's  hat!", "cat s hat"),          # ' and ! become spaces, "the" goes
    ("An apple, a day.", "apple day"),
    ("theater anthem", "theater anthem"),      # articles only as whole words
    ("a_b", "b"),                              # "_" is punctuation first, then "a" is a word
    ("x\t\n y", "x y"),
    ("Ünïcode [CONTEXT] <|Knowledge|>", "ünïcode context knowledge"),
    ("", ""),
])
def test_normalize_answer(text, expected):
    assert normalize_answer(text) == expected


HYPS = ["the cat sat on the mat", "I like green tea very much."]
REFS = [["the cat is on the mat"], ["I like green tea a lot."]]


def test_bleu_worked_by_hand_longer_translation():
    # normalised: [cat sat on mat] vs [cat is on mat]; [i like green tea very much] vs
    # [i like green tea lot].
    # matches:  1-grams 3 (cat on mat) + 4 (i like green tea) = 7 of 4 + 6 = 10
    #           2-grams 1 (on mat) + 3 = 4 of 3 + 5 = 8
    #           3-grams 0 + 2 = 2 of 2 + 4 = 6;  4-grams 0 + 1 = 1 of 1 + 3 = 4
    # lengths: translation 10, reference 4 + 5 = 9 -> ratio 10/9 > 1 -> brevity penalty 1
    result = corpus_bleu(HYPS, REFS)
    assert result.precisions == pytest.approx((7 / 10, 4 / 8, 2 / 6, 1 / 4))
    assert (result.translation_length, result.reference_length) == (10, 9)
    assert result.brevity_penalty == 1.0
    assert result.bleu == pytest.approx((0.7 * 0.5 * (1 / 3) * 0.25) ** 0.25)
    assert result.bleu == pytest.approx(0.413259, abs=1e-6)


def test_bleu_worked_by_hand_with_brevity_penalty():
    # the same pairs the other way round: precisions 7/9, 4/7, 2/5, 1/3 (product 8/135);
    # translation 9 tokens, reference 10 -> ratio 0.9, penalty exp(1 - 1/0.9)
    result = corpus_bleu([refs[0] for refs in REFS], [[hyp] for hyp in HYPS])
    assert result.precisions == pytest.approx((7 / 9, 4 / 7, 2 / 5, 1 / 3))
    assert result.ratio == pytest.approx(0.9)
    assert result.brevity_penalty == pytest.approx(math.exp(1 - 10 / 9))
    assert result.bleu == pytest.approx((8 / 135) ** 0.25 * math.exp(1 - 10 / 9))


def test_bleu_clips_by_merged_references_and_uses_the_shortest_reference():
    # "cat cat cat" against ["cat"] and ["cat cat"]: merged counts cat:2, (cat cat):1
    result = compute_bleu([[["cat"], ["cat", "cat"]]], [["cat", "cat", "cat"]])
    assert result.precisions == pytest.approx((2 / 3, 1 / 2, 0.0, 0.0))
    assert result.bleu == 0.0  # no smoothing: a zero precision gives 0
    assert result.reference_length == 1 and result.ratio == 3.0
    smoothed = compute_bleu([[["cat"], ["cat", "cat"]]], [["cat", "cat", "cat"]], smooth=True)
    assert smoothed.precisions == pytest.approx((3 / 4, 2 / 3, 1 / 2, 1 / 1))


def test_bleu_of_empty_output_is_zero():
    assert corpus_bleu([""], [["some words"]]).bleu == 0.0
    assert corpus_bleu([""], [[""]]).bleu == 0.0


def test_unigram_f1_by_hand():
    assert unigram_prf("The cat sat on the mat.", "a cat is on the mat") == pytest.approx(
        (3 / 4, 3 / 4, 3 / 4))
    # multiset: hyp {blue: 2, sky: 1}, ref {blue: 1, sky: 1, today: 1} -> overlap 2
    assert unigram_prf("blue blue sky", "blue sky today") == pytest.approx((2 / 3, 2 / 3, 2 / 3))
    # P = 3/3, R = 3/5 -> F1 = 2 * 0.6 / 1.6 = 0.75
    assert unigram_prf("it is blue", "It is blue and green!") == pytest.approx((1.0, 0.6, 0.75))
    assert unigram_prf("", "") == pytest.approx((1, 1, 1))
    assert unigram_prf("", "x") == pytest.approx((0, 0, 0))
    assert unigram_prf("a", "x") == pytest.approx((0, 0, 0))  # "a" normalises to nothing


def test_unigram_f1_best_reference_then_mean():
    scores = unigram_f1(["it is blue", "blue blue sky"],
                        [["red", "it is blue and green"], ["blue sky today"]])
    # example 1: best reference is the second (F1 0.75, P 1, R 0.6); example 2: 2/3 each
    assert scores == pytest.approx({"precision": (1 + 2 / 3) / 2, "recall": (0.6 + 2 / 3) / 2,
                                    "f1": (0.75 + 2 / 3) / 2})


def test_knowledge_f1_by_hand_skips_empty_knowledge():
    # "anna 's favorite color is blue ." -> anna s favorite color is blue (6 tokens);
    # overlap with "it is blue" is {is, blue}: P 2/3, R 2/6, F1 2*(2/9)/(1) = 4/9
    result = knowledge_f1(["it is blue", "anything"], ["anna 's favorite color is blue .", ""])
    assert result == pytest.approx({"precision": 2 / 3, "recall": 1 / 3, "f1": 4 / 9, "n": 1})
    assert knowledge_f1(["x"], [""]) is None


def test_rouge_equals_rouge_score_called_directly():
    from rouge_score import rouge_scorer

    hyps = ["The cats are running home.", "i like green tea very much", ""]
    refs = [["A cat runs to the home"], ["I like green tea a lot."], ["something"]]
    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL", "rougeLsum"],
                                      use_stemmer=True)
    expected = {name: 0.0 for name in ("rouge1", "rouge2", "rougeL", "rougeLsum")}
    for hyp, (ref,) in zip(hyps, refs):
        scores = scorer.score(normalize_answer(ref), normalize_answer(hyp))
        for name in expected:
            expected[name] += 100 * scores[name].fmeasure / len(hyps)
    assert rouge(hyps, refs) == pytest.approx(expected)
    assert expected["rouge1"] > 0  # the stemmer matches cats/cat, running/runs
    multi = rouge(["it is blue"], [["red", "it is blue"]])
    direct = scorer.score_multi(["red", "it is blue"], "it is blue")
    assert multi["rougeL"] == pytest.approx(100 * direct["rougeL"].fmeasure) == 100


def test_grounded_scores_collects_everything():
    scores = grounded_scores(HYPS, REFS, ["", "tea is green"])
    assert scores["bleu"] == pytest.approx(0.413259, abs=1e-6)
    assert scores["n_examples"] == 2 and scores["n_with_knowledge"] == 1
    assert set(scores) >= {"rouge1", "rouge2", "rougeL", "rougeLsum", "f1", "knowledge_f1"}
    assert grounded_scores(["x"], [["x"]])["knowledge_f1"] is None
