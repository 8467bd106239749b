"""Spotting damaged dumps from where their malformed lines fall.

A ``.zst`` dump written without checksums decodes overwritten bytes into garbage without an error:
the damage shows only as malformed JSON lines. Real dumps have a handful of scattered malformed
lines per month; damage gives a dense burst of them. ``MalformedTracker`` groups malformed lines
into regions (at most ``REGION_GAP`` lines apart) and calls a file damaged when one region holds
``DAMAGED_LINES`` or more malformed lines, or when malformed lines exceed ``DAMAGED_SHARE`` of
all lines (and number at least ``DAMAGED_LINES``). The report names the byte region where the
damage starts, so the file can be checked or re-downloaded.
"""

from __future__ import annotations

from dataclasses import dataclass

from dialogpt.extraction.readers import ReadStats

REGION_GAP = 50
DAMAGED_LINES = 5
DAMAGED_SHARE = 0.01


@dataclass
class Region:
    first_line: int
    last_line: int
    byte: int
    """Decompressed byte offset of the first malformed line."""
    compressed_from: int
    compressed_to: int
    malformed: int = 1


class MalformedTracker:
    """Feed it each malformed line (``add(stats)`` right after the reader yielded it)."""

    def __init__(self) -> None:
        self.malformed = 0
        self.regions: list[Region] = []

    def add(self, stats: ReadStats) -> None:
        self.malformed += 1
        last = self.regions[-1] if self.regions else None
        if last is not None and stats.lines - last.last_line <= REGION_GAP:
            last.last_line = stats.lines
            last.compressed_to = stats.compressed_bytes
            last.malformed += 1
            return
        self.regions.append(Region(stats.lines, stats.lines, stats.offset, stats.chunk_start,
                                   stats.compressed_bytes))

    def densest(self) -> Region | None:
        return max(self.regions, key=lambda region: region.malformed, default=None)

    def start(self) -> Region | None:
        """Where the damage starts: the first region of two or more malformed lines (damage then
        spreads through later back-references), else the densest."""
        return next((r for r in self.regions if r.malformed >= 2), self.densest())

    def damaged(self, lines: int) -> bool:
        densest = self.densest()
        if densest is None:
            return False
        return densest.malformed >= DAMAGED_LINES or (
            self.malformed >= DAMAGED_LINES and self.malformed > DAMAGED_SHARE * max(lines, 1))

    def report(self, lines: int) -> dict:
        """``{"damaged": bool, "malformed_region": {...}}`` for the month's report: the region
        from where the damage starts to the last malformed line."""
        start = self.start()
        report: dict = {"damaged": self.damaged(lines)}
        if start is not None:
            later = self.regions[self.regions.index(start):]
            report["malformed_region"] = {
                "first_line": start.first_line, "last_line": later[-1].last_line,
                "malformed": sum(r.malformed for r in later), "decompressed_byte": start.byte,
                "compressed_from": start.compressed_from, "compressed_to": start.compressed_to}
        return report

    def warning(self, path, lines: int) -> str | None:
        """The warning to log when the file looks damaged, else ``None``."""
        if not self.damaged(lines):
            return None
        region = self.report(lines)["malformed_region"]
        return (f"{path} looks damaged: {self.malformed} of {lines} lines are malformed JSON "
                f"(an intact dump has a few, scattered); they start at line "
                f"{region['first_line']} (decompressed byte {region['decompressed_byte']}, "
                f"within compressed bytes {region['compressed_from']}-{region['compressed_to']}) "
                f"and run to line {region['last_line']}. Check the file against its published "
                "checksum or download it again")
