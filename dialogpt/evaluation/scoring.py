"""From hypotheses and references to the DSTC-7 metrics of one system.

The official scorer writes ``hyp.txt`` and ``ref0..5.txt``, wraps them in XML for mteval and
reads them back for METEOR and the diversity metrics. The two compatibility modes differ only in
what an empty line becomes in the XML:

* ``official`` (DSTC-7 repository): ``&`` and ``<`` become spaces, an empty line becomes the word
  ``__empty__`` (which mteval splits into 5 tokens: ``_ _ empty _ _``);
* ``dialogpt`` (DialoGPT repository's ``dstc/``): ``&`` and ``<`` become spaces, empty stays empty.

Unlike both originals, a trailing empty hypothesis is scored instead of being dropped (the
originals lose the last line when it is empty, then fail or misalign).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Sequence

from dialogpt.evaluation import diversity, mteval
from dialogpt.evaluation.cleaning import clean_text
from dialogpt.evaluation.inputs import Hypotheses, References, select_reference_streams

COMPAT_MODES = ("official", "dialogpt")
EMPTY_SEGMENT = "__empty__"
METRIC_KEYS = ("n_lines", "nist1", "nist2", "nist3", "nist4", "bleu1", "bleu2", "bleu3", "bleu4",
               "meteor", "entropy1", "entropy2", "entropy3", "entropy4", "dist1", "dist2",
               "avg_len")


def mteval_segment(text: str, compat: str) -> str:
    """The ``<seg>`` text the original scorer writes for one line (before mteval tokenises it)."""
    text = text.replace("&", " ").replace("<", " ")
    if compat == "official" and not text:
        return EMPTY_SEGMENT
    return text


@dataclass(frozen=True)
class PreparedSystem:
    """What is scored for one system: keys, hypotheses and reference streams, all aligned."""

    name: str
    keys: tuple[str, ...]
    hypotheses: tuple[str, ...]
    reference_streams: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class Scores:
    """One system's metrics; NIST and BLEU rounded to 4 decimals as mteval prints them."""

    n_lines: int
    nist: tuple[float, ...]
    bleu: tuple[float, ...]
    meteor: float | None
    entropy: tuple[float, ...]
    dist: tuple[float, ...]
    avg_len: float

    def as_dict(self) -> dict[str, float | int | None]:
        values = {"n_lines": self.n_lines, "meteor": self.meteor, "avg_len": self.avg_len}
        for name in ("nist", "bleu", "entropy", "dist"):
            values.update({f"{name}{i}": v for i, v in enumerate(getattr(self, name), start=1)})
        return {key: values[key] for key in METRIC_KEYS}


class DstcScorer:
    """Scores systems against one references file; reference work is shared between systems."""

    def __init__(self, references: References, n_refs: int = 6, vshuman: int = 1,
                 clean: bool = False, compat: str = "official"):
        if compat not in COMPAT_MODES:
            raise ValueError(f"compat must be one of {COMPAT_MODES}, got {compat!r}")
        if n_refs < 1:
            raise ValueError("n_refs must be at least 1")
        self.references = references
        self.n_refs = n_refs
        self.vshuman = vshuman
        self.clean = clean
        self.compat = compat
        self._reference_sets: dict[tuple[str, ...], mteval.ReferenceSet] = {}
        self._clean = lru_cache(maxsize=None)(clean_text) if clean else None

    def _normalize(self, text: str) -> str:
        return self._clean(text) if self._clean else text

    def prepare(self, name: str, hypotheses: Hypotheses, keys: Sequence[str]) -> PreparedSystem:
        """Select and (with ``clean``) clean the texts of ``keys``, which must have references."""
        streams = select_reference_streams(self.references, keys, self.n_refs, self.vshuman)
        return PreparedSystem(
            name=name,
            keys=tuple(keys),
            hypotheses=tuple(self._normalize(hypotheses.texts[key]) for key in keys),
            reference_streams=tuple(tuple(self._normalize(text) for text in stream)
                                    for stream in streams))

    def reference_set(self, system: PreparedSystem) -> mteval.ReferenceSet:
        """mteval's view of the references of ``system`` (cached per set of scored keys)."""
        cached = self._reference_sets.get(system.keys)
        if cached is None:
            streams = [[mteval_segment(text, self.compat) for text in stream]
                       for stream in system.reference_streams]
            cached = self._reference_sets[system.keys] = mteval.ReferenceSet(streams)
        return cached

    def segment_stats(self, system: PreparedSystem) -> list[mteval.SegmentStats]:
        """mteval's statistics of every hypothesis of ``system``."""
        hypotheses = [mteval_segment(text, self.compat) for text in system.hypotheses]
        return mteval.score_segments(hypotheses, self.reference_set(system))

    def score(self, system: PreparedSystem, meteor: float | None = None,
              segments: Sequence[mteval.SegmentStats] | None = None) -> Scores:
        """All metrics of ``system``; ``meteor`` comes from :mod:`dialogpt.evaluation.meteor`.

        ``segments``: the result of :meth:`segment_stats`, when the caller already has it.
        """
        reference_set = self.reference_set(system)
        if segments is None:
            segments = self.segment_stats(system)
        result = mteval.corpus_nist_bleu(segments, reference_set.n_streams)
        return Scores(
            n_lines=len(system.hypotheses),
            nist=tuple(mteval.round_like_mteval(v) for v in result.nist),
            bleu=tuple(mteval.round_like_mteval(v) for v in result.bleu),
            meteor=meteor,
            entropy=diversity.entropy(system.hypotheses),
            dist=diversity.distinct(system.hypotheses),
            avg_len=diversity.average_length(system.hypotheses))
