"""The metrics GODEL reports, and the unigram F1 its users ask for (``docs/spec/grounded.md``
§5). Pure.

* :func:`normalize_answer`: lower-case, punctuation and the articles ``a``/``an``/``the`` become
  spaces, whitespace collapsed. Every metric here scores normalised text.
* :func:`compute_bleu`: corpus BLEU exactly as tensorflow/nmt's ``compute_bleu`` (n-gram matches
  clipped by the merged reference counts, max order 4, no smoothing unless asked, brevity penalty
  from the corpus lengths with the shortest reference of each example); a fraction, not a percent.
  :func:`corpus_bleu` feeds it whitespace tokens of normalised text, one or more references each.
* :func:`rouge`: ROUGE-1/2/L/Lsum F-measure x 100 from the ``rouge-score`` library with the
  Porter stemmer, the plain mean over examples (GODEL prints a bootstrap "mid" value instead;
  the mean is deterministic). With several references the best one per example counts
  (``score_multi``). Normalisation removes sentence punctuation, so Lsum sees one sentence unless
  a text has line breaks (then it equals ROUGE-L).
* :func:`unigram_f1`: precision, recall and F1 of the multiset overlap of normalised tokens, the
  best reference per example (by F1), then the mean; :func:`knowledge_f1` is the same against
  the record's knowledge, over the examples that have knowledge.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass
from typing import NamedTuple, Sequence

PUNCTUATION = "!\"#$%&()*+,-./:;<=>?@[]\\^`{|}~_'"
"""The characters ``normalize_answer`` turns into spaces (GODEL's list, verbatim)."""
_PUNCTUATION_RE = re.compile("[" + re.escape(PUNCTUATION) + "]")
_ARTICLES_RE = re.compile(r"\b(a|an|the)\b")
ROUGE_TYPES = ("rouge1", "rouge2", "rougeL", "rougeLsum")


def normalize_answer(text: str) -> str:
    """Lower-case; punctuation, then the words a/an/the, become spaces; collapse whitespace."""
    text = _PUNCTUATION_RE.sub(" ", text.lower())
    text = _ARTICLES_RE.sub(" ", text)
    return " ".join(text.split())


def _ngrams(tokens: Sequence[str], max_order: int) -> Counter:
    counts: Counter = Counter()
    for order in range(1, max_order + 1):
        for start in range(len(tokens) - order + 1):
            counts[tuple(tokens[start:start + order])] += 1
    return counts


@dataclass(frozen=True)
class BleuResult:
    """What nmt's ``compute_bleu`` returns: BLEU (a fraction), the n-gram precisions, the brevity
    penalty, the length ratio and the corpus lengths."""

    bleu: float
    precisions: tuple[float, ...]
    brevity_penalty: float
    ratio: float
    translation_length: int
    reference_length: int


def compute_bleu(reference_corpus: Sequence[Sequence[Sequence[str]]],
                 translation_corpus: Sequence[Sequence[str]], max_order: int = 4,
                 smooth: bool = False) -> BleuResult:
    """Corpus BLEU of tokenised translations against lists of tokenised references (nmt's rule).

    A corpus with no tokens at all (or no reference tokens) scores 0 instead of dividing by zero.
    """
    matches = [0] * max_order
    possible = [0] * max_order
    reference_length = translation_length = 0
    for references, translation in zip(reference_corpus, translation_corpus, strict=True):
        reference_length += min(len(reference) for reference in references)
        translation_length += len(translation)
        merged: Counter = Counter()
        for reference in references:
            merged |= _ngrams(reference, max_order)
        for ngram, count in (_ngrams(translation, max_order) & merged).items():
            matches[len(ngram) - 1] += count
        for order in range(1, max_order + 1):
            possible[order - 1] += max(0, len(translation) - order + 1)
    if smooth:
        precisions = [(m + 1.0) / (p + 1.0) for m, p in zip(matches, possible)]
    else:
        precisions = [m / p if p > 0 else 0.0 for m, p in zip(matches, possible)]
    geo_mean = (math.exp(sum(math.log(p) for p in precisions) / max_order)
                if min(precisions) > 0 else 0.0)
    if reference_length == 0 or translation_length == 0:
        ratio = translation_length / reference_length if reference_length else 0.0
        return BleuResult(0.0, tuple(precisions), 0.0, ratio, translation_length,
                          reference_length)
    ratio = translation_length / reference_length
    penalty = 1.0 if ratio > 1.0 else math.exp(1 - 1.0 / ratio)
    return BleuResult(geo_mean * penalty, tuple(precisions), penalty, ratio, translation_length,
                      reference_length)


def corpus_bleu(hypotheses: Sequence[str], references: Sequence[Sequence[str]],
                max_order: int = 4) -> BleuResult:
    """GODEL's BLEU: :func:`compute_bleu` on whitespace tokens of normalised text."""
    return compute_bleu([[normalize_answer(ref).split() for ref in refs] for refs in references],
                        [normalize_answer(hyp).split() for hyp in hypotheses], max_order)


def rouge(hypotheses: Sequence[str], references: Sequence[Sequence[str]]) -> dict[str, float]:
    """Mean ROUGE-1/2/L/Lsum F-measure x 100 (``rouge_score``, Porter stemmer) of normalised text."""
    import logging

    from rouge_score import rouge_scorer

    logging.getLogger("absl").setLevel(logging.WARNING)  # "Using default tokenizer." on each call
    scorer = rouge_scorer.RougeScorer(list(ROUGE_TYPES), use_stemmer=True)
    totals = dict.fromkeys(ROUGE_TYPES, 0.0)
    for hypothesis, refs in zip(hypotheses, references, strict=True):
        prediction = normalize_answer(hypothesis)
        targets = [normalize_answer(ref) for ref in refs]
        scores = (scorer.score(targets[0], prediction) if len(targets) == 1
                  else scorer.score_multi(targets, prediction))
        for name in ROUGE_TYPES:
            totals[name] += scores[name].fmeasure
    n = max(len(hypotheses), 1)
    return {name: 100.0 * total / n for name, total in totals.items()}


class PRF(NamedTuple):
    precision: float
    recall: float
    f1: float


def unigram_prf(hypothesis: str, reference: str) -> PRF:
    """Precision, recall and F1 of the multiset overlap of normalised tokens.

    Both empty: 1, 1, 1 (they agree); one empty: 0, 0, 0.
    """
    hyp, ref = normalize_answer(hypothesis).split(), normalize_answer(reference).split()
    if not hyp or not ref:
        value = float(hyp == ref)
        return PRF(value, value, value)
    same = sum((Counter(hyp) & Counter(ref)).values())
    if same == 0:
        return PRF(0.0, 0.0, 0.0)
    precision, recall = same / len(hyp), same / len(ref)
    return PRF(precision, recall, 2 * precision * recall / (precision + recall))


def best_prf(hypothesis: str, references: Sequence[str]) -> PRF:
    """:func:`unigram_prf` against the reference that gives the highest F1 (the first on ties)."""
    return max((unigram_prf(hypothesis, ref) for ref in references), key=lambda s: s.f1)


def _mean_prf(scores: Sequence[PRF]) -> dict[str, float]:
    n = len(scores)
    return {"precision": sum(s.precision for s in scores) / n,
            "recall": sum(s.recall for s in scores) / n,
            "f1": sum(s.f1 for s in scores) / n}


def unigram_f1(hypotheses: Sequence[str], references: Sequence[Sequence[str]]
               ) -> dict[str, float]:
    """Mean precision, recall and F1 (fractions) of :func:`best_prf` over the examples."""
    if len(hypotheses) != len(references):
        raise ValueError(f"{len(hypotheses)} hypotheses but {len(references)} reference lists")
    if not hypotheses:
        return {"precision": 0.0, "recall": 0.0, "f1": 0.0}
    return _mean_prf([best_prf(hyp, refs) for hyp, refs in zip(hypotheses, references)])


def knowledge_f1(hypotheses: Sequence[str], knowledge: Sequence[str]) -> dict[str, float] | None:
    """Unigram precision/recall/F1 of each response against its record's knowledge, averaged
    over the examples whose knowledge is not empty (``n`` of them); None when none has any."""
    if len(hypotheses) != len(knowledge):
        raise ValueError(f"{len(hypotheses)} hypotheses but {len(knowledge)} knowledge texts")
    scores = [unigram_prf(hyp, kn) for hyp, kn in zip(hypotheses, knowledge)
              if normalize_answer(kn)]
    if not scores:
        return None
    return {**_mean_prf(scores), "n": len(scores)}


def grounded_scores(hypotheses: Sequence[str], references: Sequence[Sequence[str]],
                    knowledge: Sequence[str] | None = None) -> dict:
    """Every metric of this module in one flat dict (BLEU and F1 as fractions, ROUGE x 100)."""
    bleu = corpus_bleu(hypotheses, references)
    f1 = unigram_f1(hypotheses, references)
    result = {"n_examples": len(hypotheses), "bleu": bleu.bleu,
              "bleu_precisions": list(bleu.precisions), "bleu_brevity_penalty":
              bleu.brevity_penalty, **rouge(hypotheses, references),
              "f1": f1["f1"], "f1_precision": f1["precision"], "f1_recall": f1["recall"]}
    kf1 = knowledge_f1(hypotheses, knowledge) if knowledge is not None else None
    result.update({"knowledge_f1": kf1["f1"] if kf1 else None,
                   "knowledge_f1_precision": kf1["precision"] if kf1 else None,
                   "knowledge_f1_recall": kf1["recall"] if kf1 else None,
                   "n_with_knowledge": kf1["n"] if kf1 else 0})
    return result
