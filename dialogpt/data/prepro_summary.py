"""The counters of a prepro run and their report: a shared base and one class per DB kind.

``lines_written + lines_skipped == lines_read`` always. The summary goes to the terminal
(:meth:`BuildSummary.format`) and into the DB's ``summary.json`` (:meth:`BuildSummary.to_dict`);
``prepro_cluster`` adds up the summaries of byte ranges (``merge_summary``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from dialogpt.data import features, seq2seq
from dialogpt.data.features import WindowStats
from dialogpt.data.seq2seq import CutStats
from dialogpt.data.skips import SkippedLines, format_skips


@dataclass
class BuildSummary:
    """What every kind counts: lines read and written, skips by reason, normalised line ends.

    A kind adds its own counters (``_add_kind``), its ``summary.json`` fields (``_kind_dict``),
    what the written lines made (``_written_detail``) and what was cut (``_cut_line``); each kind
    also has ``examples`` and ``labelled_tokens`` (the manifest's ``n_labelled_tokens``)."""

    skip_reasons: ClassVar[dict[str, str]] = {}
    """skip reason -> meaning (printed with each count)"""
    malformed_reasons: ClassVar[frozenset[str]] = frozenset()
    """the skip reasons that stop a ``--strict`` run"""

    lines_read: int = 0
    lines_written: int = 0
    crlf_line_endings: int = 0
    bom_removed: int = 0
    skipped: SkippedLines = field(default_factory=SkippedLines)

    def add(self, result) -> None:
        """Count one result of the kind's chunk stage."""
        self.lines_read += result.n_lines
        self.lines_written += result.n_lines_written
        self.crlf_line_endings += result.crlf
        self.bom_removed += result.bom
        self.skipped.add_all(result.skips)
        self._add_kind(result)

    @property
    def lines_skipped(self) -> int:
        return self.skipped.total

    @classmethod
    def first_malformed(cls, skips) -> tuple | None:
        """The first ``(line, reason, detail)`` of ``skips`` that stops a ``--strict`` run."""
        return next((skip for skip in skips if skip[1] in cls.malformed_reasons), None)

    def to_dict(self) -> dict:
        return {
            "lines_read": self.lines_read,
            "lines_written": self.lines_written,
            "lines_skipped": self.lines_skipped,
            "skipped": self.skipped.to_dict(self.skip_reasons),
            "normalised": {"crlf_line_endings": self.crlf_line_endings,
                           "bom_removed": self.bom_removed},
            **self._kind_dict(),
        }

    def format(self) -> str:
        lines = [f"lines read     {self.lines_read}",
                 f"lines written  {self.lines_written}  ({self._written_detail()})",
                 f"lines skipped  {self.lines_skipped}",
                 *format_skips(self.skipped.to_dict(self.skip_reasons)),
                 self._cut_line()]
        if self.crlf_line_endings or self.bom_removed:
            lines.append(f"normalised: {self.crlf_line_endings} CRLF line endings, "
                         f"{self.bom_removed} byte-order marks removed")
        return "\n".join(lines)

    def _add_kind(self, result) -> None:
        raise NotImplementedError

    def _kind_dict(self) -> dict:
        raise NotImplementedError

    def _written_detail(self) -> str:
        raise NotImplementedError

    def _cut_line(self) -> str:
        raise NotImplementedError


@dataclass
class PreproSummary(BuildSummary):
    """A causal (TSV) build: examples, tokens, labelled tokens and the windowing counts."""

    skip_reasons: ClassVar[dict[str, str]] = features.SKIP_REASONS
    malformed_reasons: ClassVar[frozenset[str]] = features.MALFORMED_REASONS

    examples: int = 0
    tokens: int = 0
    labelled_tokens: int = 0
    window: WindowStats = field(default_factory=WindowStats)

    def _add_kind(self, result) -> None:
        self.examples += result.encoded.n_examples
        self.tokens += len(result.encoded.tokens)
        self.labelled_tokens += result.n_labelled_tokens
        self.window.add(result.window)

    def _kind_dict(self) -> dict:
        return {"examples": self.examples, "tokens": self.tokens,
                "labelled_tokens": self.labelled_tokens,
                "windows_cut": self.window.windows_cut,
                "turns_over_max_seq_len": self.window.long_turns,
                "all_zero_windows_dropped": self.window.all_zero_windows}

    def _written_detail(self) -> str:
        return f"{self.examples} examples, {self.tokens} tokens, {self.labelled_tokens} labelled"

    def _cut_line(self) -> str:
        return (f"windows cut {self.window.windows_cut}, turns over max_seq_len "
                f"{self.window.long_turns}, all-zero windows dropped "
                f"{self.window.all_zero_windows}")


@dataclass
class Seq2SeqSummary(BuildSummary):
    """A seq2seq (GODEL records) build: one example per written line, source and target tokens,
    and what was cut to the limits."""

    skip_reasons: ClassVar[dict[str, str]] = seq2seq.SKIP_REASONS
    malformed_reasons: ClassVar[frozenset[str]] = seq2seq.MALFORMED_REASONS

    source_tokens: int = 0
    target_tokens: int = 0
    cuts: CutStats = field(default_factory=CutStats)

    @property
    def examples(self) -> int:
        return self.lines_written

    @property
    def labelled_tokens(self) -> int:
        return self.target_tokens

    def _add_kind(self, result) -> None:
        self.source_tokens += result.source_tokens
        self.target_tokens += result.target_tokens
        self.cuts.add(result.cuts)

    def _kind_dict(self) -> dict:
        c = self.cuts
        return {"examples": self.lines_written, "source_tokens": self.source_tokens,
                "target_tokens": self.target_tokens,
                "cuts": {"records_cut": c.records_cut,
                         "records_with_turns_dropped": c.records_turns_dropped,
                         "turns_dropped": c.turns_dropped, "knowledge_cut": c.knowledge_cut,
                         "newest_turn_cut": c.newest_turn_cut, "target_cut": c.target_cut}}

    def _written_detail(self) -> str:
        return f"{self.source_tokens} source tokens, {self.target_tokens} target tokens"

    def _cut_line(self) -> str:
        c = self.cuts
        return (f"cut to the limits: {c.records_cut} sources ({c.turns_dropped} oldest turns "
                f"dropped from {c.records_turns_dropped} records, knowledge cut in "
                f"{c.knowledge_cut}, newest turn cut in {c.newest_turn_cut}); "
                f"{c.target_cut} targets cut")


def summary_class_for(kind: str) -> type[BuildSummary]:
    """The summary of a DB kind (``causal`` or ``seq2seq``)."""
    return Seq2SeqSummary if kind == "seq2seq" else PreproSummary
