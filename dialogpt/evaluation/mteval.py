"""NIST and BLEU exactly as NIST's ``mteval-v14c.pl`` computes them, in pure Python.

The official DSTC-7 scorer writes hypotheses and references to XML and runs ``mteval-v14c.pl``;
this module reproduces that script's default mode (no ``-c``, closest-reference brevity penalty,
smoothed BLEU, non-international tokenisation) on the same segment strings:

* tokenisation: tokens starting with ``http://``/``https://`` are kept whole; every other token
  has the SGML entities ``&quot; &amp; &lt; &gt;`` decoded, ASCII letters lower-cased, punctuation
  split off (apostrophe and hyphen are not punctuation here; ``_`` is), ``.``/``,`` split unless
  they sit next to a digit, and ``-`` split after a digit;
* NIST information weights come from the n-gram counts of *all* reference streams, duplicates
  included: ``info(w1..wn) = log2(count(w1..wn-1) / count(w1..wn))``, where the unigram history
  is the total reference word count. A quirk kept on purpose: Perl treats the history string
  ``"0"`` as false, so n-grams whose history is the single word ``0`` use the total word count;
* BLEU: clipped n-gram matches against the per-reference maximum, closest reference length with
  ties to the shorter, one brevity penalty over the whole corpus, and mteval's smoothing: the
  k-th order with zero matches counts ``1 / 2**k`` matches;
* NIST: cumulative information per n-gram order, times ``exp(-beta * ln(r)**2)`` when the
  hypothesis/average-reference length ratio ``r`` is below 1, ``beta = -ln(0.5) / ln(1.5)**2``.

The script prints scores with ``%.4f``; :func:`round_like_mteval` does the same rounding.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from typing import Sequence

MAX_ORDER = 4

# Perl's \s on character strings (Unicode rules), which mteval uses to split and trim.
_PERL_SPACE_CHARS = ("\t\n\x0b\x0c\r \x85\xa0\u1680" + "".join(map(chr, range(0x2000, 0x200B)))
                     + "\u2028\u2029\u202f\u205f\u3000")
_PERL_SPACES = re.compile("[" + re.escape(_PERL_SPACE_CHARS) + "]+")
_URL_START = re.compile(r"^https?://")
_ENTITIES = (("&quot;", '"'), ("&amp;", "&"), ("&lt;", "<"), ("&gt;", ">"))
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
# mteval's class [\{-\~\[-\` -\&\(-\+\:-\@\/]: { | } ~  [ \ ] ^ _ `  space ! " # $ % &
# ( ) * +  : ; < = > ? @  and /.
_PUNCTUATION = re.compile(r"([\x7b-\x7e\x5b-\x60\x20-\x26\x28-\x2b\x3a-\x40\x2f])")
_PERIOD_COMMA_AFTER_NON_DIGIT = re.compile(r"([^0-9])([.,])")
_PERIOD_COMMA_BEFORE_NON_DIGIT = re.compile(r"([.,])([^0-9])")
_DASH_AFTER_DIGIT = re.compile(r"([0-9])(-)")

_NIST_BETA = -math.log(0.5) / math.log(1.5) / math.log(1.5)


def perl_split(text: str) -> list[str]:
    """``split /\\s+/, $text``: a leading empty field is kept, trailing empty fields dropped."""
    if not text:
        return []
    fields = _PERL_SPACES.split(text)
    while fields and fields[-1] == "":
        fields.pop()
    return fields


@lru_cache(maxsize=1 << 17)
def _tokenize_word(word: str) -> str:
    """``tokenization_orig`` of one whitespace-free token (cached: tokens follow Zipf's law)."""
    word = word.replace("<skipped>", "")
    for entity, char in _ENTITIES:
        word = word.replace(entity, char)
    text = " " + word.translate(_ASCII_LOWER) + " "
    text = _PUNCTUATION.sub(r" \1 ", text)
    text = _PERIOD_COMMA_AFTER_NON_DIGIT.sub(r"\1 \2 ", text)
    text = _PERIOD_COMMA_BEFORE_NON_DIGIT.sub(r" \1 \2", text)
    text = _DASH_AFTER_DIGIT.sub(r"\1 \2 ", text)
    return _PERL_SPACES.sub(" ", text).strip(_PERL_SPACE_CHARS)


def tokenize(segment: str) -> list[str]:
    """The words mteval-v14c scores for one ``<seg>`` text (its default tokenisation)."""
    tokens = perl_split(segment.strip(_PERL_SPACE_CHARS))
    normalized = " ".join(token if _URL_START.match(token) else _tokenize_word(token)
                          for token in tokens)
    return perl_split(normalized)


def ngram_counts(words: Sequence[str], max_order: int = MAX_ORDER) -> Counter:
    """Counts of every n-gram (as a tuple of words) of order 1..max_order."""
    counts: Counter = Counter()
    for order in range(1, max_order + 1):
        counts.update(tuple(words[i:i + order]) for i in range(len(words) - order + 1))
    return counts


def _history_is_false_in_perl(history: tuple[str, ...]) -> bool:
    """Whether mteval's ``$mgram ? ... : ...`` takes the total word count (``""`` or ``"0"``)."""
    return " ".join(history) in ("", "0")


def information_weights(reference_counts: Counter, total_words: int) -> dict[tuple, float]:
    """mteval's NIST information of every reference n-gram (``compute_ngram_info``)."""
    weights = {}
    for ngram, count in reference_counts.items():
        history = ngram[:-1]
        if _history_is_false_in_perl(history):
            denominator = total_words
        else:
            denominator = reference_counts[history]
        weights[ngram] = -math.log(count / denominator) / math.log(2)
    return weights


@dataclass(frozen=True)
class SegmentStats:
    """Sufficient statistics of one hypothesis segment (index ``order - 1`` in each tuple)."""

    closest_ref_length: int
    matches: tuple[int, ...]
    hyp_ngrams: tuple[int, ...]
    ref_ngrams: tuple[int, ...]
    info: tuple[float, ...]


@dataclass(frozen=True)
class _ReferenceSegment:
    max_counts: dict[tuple, int]
    lengths: tuple[int, ...]
    ngram_totals: tuple[int, ...]


def _closest_length(ref_lengths: Sequence[int], hyp_length: int) -> int:
    """Closest reference length; on a tie the shorter one (``brevity_penalty_closest``)."""
    return min(ref_lengths, key=lambda length: (abs(hyp_length - length), length))


class ReferenceSet:
    """Tokenised reference streams and the NIST weights they induce, shared by every system.

    ``streams[i][j]`` is the i-th reference of segment j, as the ``<seg>`` text mteval reads.
    """

    def __init__(self, streams: Sequence[Sequence[str]], max_order: int = MAX_ORDER):
        if not streams:
            raise ValueError("at least one reference stream is needed")
        n_segments = len(streams[0])
        if any(len(stream) != n_segments for stream in streams):
            raise ValueError("every reference stream needs one line per segment")
        self.max_order = max_order
        self.n_streams = len(streams)
        self.n_segments = n_segments
        corpus_counts: Counter = Counter()
        total_words = 0
        self._segments: list[_ReferenceSegment] = []
        for j in range(n_segments):
            max_counts: dict[tuple, int] = {}
            lengths = []
            for stream in streams:
                words = tokenize(stream[j])
                counts = ngram_counts(words, max_order)
                corpus_counts.update(counts)
                total_words += len(words)
                lengths.append(len(words))
                for ngram, count in counts.items():
                    if count > max_counts.get(ngram, 0):
                        max_counts[ngram] = count
            totals = tuple(sum(max(length - order + 1, 0) for length in lengths)
                           for order in range(1, max_order + 1))
            self._segments.append(_ReferenceSegment(max_counts, tuple(lengths), totals))
        self.total_words = total_words
        self.info = information_weights(corpus_counts, total_words)

    def segment_stats(self, j: int, hyp_words: Sequence[str]) -> SegmentStats:
        """``score_segment`` of mteval for hypothesis words of segment ``j``."""
        ref = self._segments[j]
        order_range = range(1, self.max_order + 1)
        matches = [0] * self.max_order
        info = [0.0] * self.max_order
        for ngram, count in ngram_counts(hyp_words, self.max_order).items():
            ref_count = ref.max_counts.get(ngram)
            if ref_count is None:
                continue
            clipped = min(count, ref_count)
            matches[len(ngram) - 1] += clipped
            info[len(ngram) - 1] += self.info[ngram] * clipped
        hyp_totals = tuple(max(len(hyp_words) - order + 1, 0) for order in order_range)
        return SegmentStats(_closest_length(ref.lengths, len(hyp_words)), tuple(matches),
                            hyp_totals, ref.ngram_totals, tuple(info))


@dataclass(frozen=True)
class NistBleu:
    """Cumulative NIST-1..n and BLEU-1..n at full precision."""

    nist: tuple[float, ...]
    bleu: tuple[float, ...]


def sum_stats(stats: Sequence[SegmentStats]) -> SegmentStats:
    def column(name: str) -> tuple:
        return tuple(map(sum, zip(*(getattr(s, name) for s in stats))))

    if not stats:
        raise ValueError("no segments to score")
    return SegmentStats(sum(s.closest_ref_length for s in stats), column("matches"),
                        column("hyp_ngrams"), column("ref_ngrams"), column("info"))


def nist_length_penalty(ratio: float) -> float:
    if ratio >= 1:
        return 1.0
    if ratio <= 0:
        return 0.0
    return math.exp(-_NIST_BETA * math.log(ratio) * math.log(ratio))


def nist_scores(stats: SegmentStats, n_streams: int) -> tuple[float, ...]:
    """Cumulative NIST per order (``nist_score``); 0 when the references have no words."""
    if stats.ref_ngrams[0] == 0:
        return (0.0,) * len(stats.info)
    penalty = nist_length_penalty(stats.hyp_ngrams[0] / (stats.ref_ngrams[0] / n_streams))
    cumulative, scores = 0.0, []
    for info, count in zip(stats.info, stats.hyp_ngrams):
        cumulative += info / max(count, 1)
        scores.append(cumulative * penalty)
    return tuple(scores)


def bleu_scores(stats: SegmentStats) -> tuple[float, ...]:
    """Cumulative smoothed BLEU per order (``bleu_score``)."""
    hyp_words = stats.hyp_ngrams[0]
    brevity = math.exp(min(0.0, 1 - stats.closest_ref_length / hyp_words)) if hyp_words > 0 else 0.0
    smooth, log_sum, scores = 1, 0.0, []
    for order, (matches, count) in enumerate(zip(stats.matches, stats.hyp_ngrams), start=1):
        if count == 0:
            log_precision = 0.0
        elif matches == 0:
            smooth *= 2
            log_precision = math.log(1 / (smooth * count))
        else:
            log_precision = math.log(matches / count)
        log_sum += log_precision
        scores.append(math.exp(log_sum / order) * brevity)
    return tuple(scores)


def score_segments(hypotheses: Sequence[str], references: ReferenceSet) -> list[SegmentStats]:
    """Statistics of each hypothesis (``<seg>`` texts, one per reference segment)."""
    if len(hypotheses) != references.n_segments:
        raise ValueError(f"{len(hypotheses)} hypotheses for {references.n_segments} segments")
    return [references.segment_stats(j, tokenize(hyp)) for j, hyp in enumerate(hypotheses)]


def corpus_nist_bleu(segments: Sequence[SegmentStats], n_streams: int) -> NistBleu:
    """System-level NIST and BLEU from the statistics of every segment."""
    stats = sum_stats(segments)
    return NistBleu(nist_scores(stats, n_streams), bleu_scores(stats))


def round_like_mteval(value: float) -> float:
    """The value mteval prints (``%.4f``, correctly rounded like C's printf) read back."""
    return float(f"{value:.4f}")
