"""NIST/BLEU on hand-worked cases; the arithmetic is written out here, not taken from the module.

Every case was also run through the official mteval-v14c.pl (same XML as the DSTC-7 scorer
writes); the 4-decimal values it printed are pinned next to the formulas.
"""

from __future__ import annotations

import math

import pytest

from dialogpt.evaluation import mteval

BETA = -math.log(0.5) / math.log(1.5) ** 2


def score(hypotheses, streams):
    references = mteval.ReferenceSet(streams)
    result = mteval.corpus_nist_bleu(mteval.score_segments(hypotheses, references),
                                     references.n_streams)
    return result.nist, result.bleu


def rounded(values):
    return [mteval.round_like_mteval(v) for v in values]


@pytest.mark.parametrize("segment, words", [
    (" Hello, World. ", ["hello", ",", "world", "."]),
    ("3.5 1,000 pi.", ["3.5", "1,000", "pi", "."]),          # . and , stay between digits
    ("a-b 5-3", ["a-b", "5", "-", "3"]),                     # - splits only after a digit
    ("__url__", ["_", "_", "url", "_", "_"]),                # _ is punctuation: 5 tokens
    ("don't", ["don't"]),                                    # the apostrophe is not
    ("see http://X.com/A,B", ["see", "http://X.com/A,B"]),   # URLs are kept whole, case too
    ("&quot;hi&quot; a&amp;b", ['"', "hi", '"', "a", "&", "b"]),
    ("ÉCOLE Ünï", ["École", "Ünï"]),                          # only ASCII letters are lowered
    ("a\u00a0b\u3000c", ["a", "b", "c"]),                     # Perl's Unicode \s separates words
    ("a\u200bb", ["a\u200bb"]),                               # zero-width space does not
    ("   ", []),
])
def test_tokenize_like_mteval(segment, words):
    assert mteval.tokenize(segment) == words


def test_perl_split_keeps_a_leading_empty_field_and_drops_trailing_ones():
    assert mteval.perl_split(" a  b ") == ["", "a", "b"]
    assert mteval.perl_split("") == []


def test_information_weights_by_hand():
    counts = mteval.ngram_counts(["a", "b", "a"])
    info = mteval.information_weights(counts, total_words=3)
    assert info[("a",)] == pytest.approx(math.log2(3 / 2))
    assert info[("b",)] == pytest.approx(math.log2(3))
    assert info[("a", "b")] == pytest.approx(math.log2(2 / 1))   # count(a) / count(a b)
    assert info[("b", "a")] == pytest.approx(0.0)
    assert info[("a", "b", "a")] == pytest.approx(0.0)


def test_history_zero_is_false_in_perl():
    # words 0 x 0 x: count(0) = 2, count(0 x) = 2, total 4. Perl's `$mgram ? ...` treats the
    # history "0" as false and divides by the total word count: log2(4/2) = 1, not log2(2/2).
    counts = mteval.ngram_counts(["0", "x", "0", "x"])
    info = mteval.information_weights(counts, total_words=4)
    assert info[("0", "x")] == pytest.approx(1.0)
    assert info[("x", "0")] == pytest.approx(1.0)
    # NIST-2 = (4 * 1) / 4 + (2 * info(0 x) + info(x 0)) / 3 = 1 + 1 = 2; mteval printed 2.0000
    nist, _ = score(["0 x 0 x"], [["0 x 0 x"]])
    assert rounded(nist) == [1.0, 2.0, 2.5, 2.5]


def test_partial_hypothesis_by_hand():
    # hyp "the cat sat", one reference "the cat sat on the mat" (6 words, "the" twice).
    nist, bleu = score(["the cat sat"], [["the cat sat on the mat"]])
    # BLEU: every 1..3-gram matches, there is no 4-gram in the hypothesis (mteval then counts
    # the order as precision 1), brevity exp(1 - 6/3) = e^-1 for every order.
    assert rounded(bleu) == [0.3679] * 4 == rounded([math.exp(-1)] * 4)
    # NIST: info(the) = log2(6/2), info(cat) = info(sat) = log2(6); info(the cat) = log2(2/1),
    # info(cat sat) = log2(1/1), info(the cat sat) = 0; length ratio 3 / 6 = 0.5.
    penalty = math.exp(-BETA * math.log(0.5) ** 2)
    unigram = (math.log2(3) + 2 * math.log2(6)) / 3
    bigram = (1 + 0) / 2
    expected = [unigram * penalty, (unigram + bigram) * penalty, (unigram + bigram) * penalty,
                (unigram + bigram) * penalty]
    assert nist == pytest.approx(expected)
    assert rounded(nist) == [0.297, 0.363, 0.363, 0.363]


def test_bleu_smoothing_by_hand():
    # No match at all: the k-th order without matches counts 1 / 2^k matches.
    _, bleu = score(["x y z w"], [["a b c d"]])
    p = [1 / (2 * 4), 1 / (4 * 3), 1 / (8 * 2), 1 / (16 * 1)]
    expected = [math.prod(p[:n]) ** (1 / n) for n in range(1, 5)]
    assert bleu == pytest.approx(expected)
    assert rounded(bleu) == [0.125, 0.1021, 0.0867, 0.0799]


def test_bleu_clips_to_the_reference_count():
    # "the" x4 against a reference with "the" x2: 2/4 unigram matches, 1/3 bigrams ("the the"
    # appears once in no reference -> smoothed 1/2 / 3), trigram 1/4 / 2, 4-gram 1/8 / 1.
    _, bleu = score(["the the the the"], [["the cat the"]])
    p = [2 / 4, 1 / (2 * 3), 1 / (4 * 2), 1 / (8 * 1)]
    assert bleu == pytest.approx([math.prod(p[:n]) ** (1 / n) for n in range(1, 5)])
    assert rounded(bleu) == [0.5, 0.2887, 0.2184, 0.19]


def test_closest_reference_length_ties_go_to_the_shorter():
    assert mteval._closest_length([3, 5], 4) == 3
    assert mteval._closest_length([5, 3], 4) == 3
    assert mteval._closest_length([11, 8, 6, 7], 7) == 7
    # hyp 4 words, refs 3 and 5: closest is 3 < 4, no brevity penalty; NIST uses the average
    # reference length (3 + 5) / 2 = 4 = hyp length, so no NIST penalty either.
    nist, bleu = score(["a b c d"], [["a b c"], ["a b c d e"]])
    assert rounded(bleu) == [1.0] * 4
    assert rounded(nist) == [2.25, 2.5833, 3.0833, 4.0833]


def test_information_counts_duplicate_reference_streams():
    # Streams r0, r1, r1 (the official 6-stream selection repeats a reference the same way):
    # the duplicate stream counts again, so a, b, c occur 3, 4, 4 times in 11 reference words.
    nist, _ = score(["a c", "b"], [["a b", "b"], ["a c", "c b"], ["a c", "c b"]])
    assert rounded(nist) == [1.3483, 1.8419, 1.8419, 1.8419]
    words = "a b b a c c b a c c b".split()
    assert len(words) == 11
    info_a, info_c, info_b = (math.log2(11 / words.count(w)) for w in "acb")
    # a c: count(a c) = 2, count(a) = 3; hyp words 3 = average reference words 11/3 -> ratio 9/11
    info_ac = math.log2(3 / 2)
    penalty = math.exp(-BETA * math.log(3 / (11 / 3)) ** 2)
    assert nist[0] == pytest.approx((info_a + info_c + info_b) / 3 * penalty)
    assert nist[1] == pytest.approx(((info_a + info_c + info_b) / 3 + info_ac / 1) * penalty)


@pytest.mark.parametrize("ratio, expected", [(1.2, 1.0), (1.0, 1.0), (0.0, 0.0), (2 / 3, 0.5)])
def test_nist_length_penalty(ratio, expected):
    # beta is chosen so that a hypothesis 2/3 as long as the references scores half.
    assert mteval.nist_length_penalty(ratio) == pytest.approx(expected)


@pytest.mark.parametrize("value, printed", [(0.12345, 0.1235), (2.67125, 2.6713), (12.217, 12.217)])
def test_round_like_mteval_matches_perl_printf(value, printed):
    # perl -e 'printf "%.4f", VALUE' prints 0.1235, 2.6713 and 12.2170
    assert mteval.round_like_mteval(value) == printed


def test_empty_hypothesis_scores_zero():
    nist, bleu = score([""], [["a b"]])
    assert nist == (0.0,) * 4 and bleu == (0.0,) * 4


def test_mismatched_lengths_are_rejected():
    references = mteval.ReferenceSet([["a", "b"]])
    with pytest.raises(ValueError):
        mteval.score_segments(["a"], references)
    with pytest.raises(ValueError):
        mteval.ReferenceSet([["a", "b"], ["a"]])
