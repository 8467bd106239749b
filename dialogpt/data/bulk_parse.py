"""The common TSV line, parsed for a whole chunk at once with string and array operations.

Extractor output is nearly all lines of the one shape ``W TEXT EOS W TEXT ...<TAB>W TEXT`` with
``W`` in ``1.0``/``0.0`` and single spaces only; :func:`bulk_turns` parses such lines of a chunk
together (a few C-level passes over the chunk instead of Python steps per line and turn) and
hands every other line back by index, for the line-by-line rules of
:mod:`dialogpt.data.pipeline`, which also name the reason of a skip. For a line it accepts, the
result is exactly ``select_turns(parse_line(line))``: a clean line's turns are its parts between
``" EOS "`` (context) and the TAB, each ``WEIGHT TEXT`` as it stands.
"""

from __future__ import annotations

from itertools import repeat


class BulkTurns:
    """Turns of the accepted lines of a chunk, in line order: ``weights`` (float64 array),
    ``texts`` (list), ``counts`` (turns per accepted line, int64 array), ``accepted`` (bool
    array over the chunk's lines)."""

    def __init__(self, accepted, weights, texts, counts):
        self.accepted, self.weights, self.texts, self.counts = accepted, weights, texts, counts


def bulk_turns(raw_lines: list, reverse: bool, two_turn: bool) -> BulkTurns | None:
    """Parse the lines of a chunk that are clean (printable ASCII but for one TAB; single spaces,
    none at an edge of the line or next to the TAB; no ``" EOS "`` in the response, none
    overlapping another; every part ``1.0 TEXT`` or ``0.0 TEXT``; >= 2 turns after dropping a
    weight-0 response). None when the chunk cannot be split into its lines this way (then every
    line takes the general rules).

    Works on the chunk's bytes as one array: a clean line is ASCII, so its bytes are its text;
    only the turn texts become Python objects."""
    import numpy as np

    n = len(raw_lines)
    if not n or None in raw_lines:
        return None if not n else _without_missing(raw_lines, reverse, two_turn)
    if sum(map(bytes.endswith, raw_lines[:-1], repeat(b"\n"))) != n - 1:
        return None  # not lines as read_raw_lines yields them
    block = b"".join(raw_lines)
    if not block.endswith(b"\n"):
        block += b"\n"  # a last line without its terminator: the same text
    data = np.frombuffer(block, dtype=np.uint8)
    ends = np.flatnonzero(data == 10)
    if len(ends) != n:
        return None  # a line with a line feed inside
    starts = np.append(0, ends[:-1] + 1)
    lines = _Lines(ends)
    lines.mark(np.flatnonzero(((data < 32) & (data != 9) & (data != 10)) | (data > 126)))
    tabs = np.flatnonzero(data == 9)
    tab_line = np.searchsorted(ends, tabs)
    lines.bad |= np.bincount(tab_line, minlength=n) != 1
    space = data == 32
    near = space[1:] & (space[:-1] | (data[:-1] == 9)) | (data[1:] == 9) & space[:-1]
    lines.mark(np.flatnonzero(near))  # "  ", " TAB", "TAB "
    lines.bad |= space[starts] | space[np.maximum(ends - 1, 0)]
    eos = np.flatnonzero(space[:-4] & (data[1:-3] == 69) & (data[2:-2] == 79) &
                         (data[3:-1] == 83) & space[4:])
    lines.mark(eos[1:][np.diff(eos) < 5])  # overlapping " EOS EOS "
    tab_at = np.zeros(n, dtype=np.int64)
    tab_at[tab_line] = tabs
    eos_line = np.searchsorted(ends, eos)
    lines.mark(eos[eos > tab_at[eos_line]])  # " EOS " in the response
    good = ~lines.bad
    eos = eos[good[eos_line]]
    turn_start = np.sort(np.concatenate([starts[good], eos + 5, tabs[good[tab_line]] + 1]))
    turn_end = np.sort(np.concatenate([eos, tabs[good[tab_line]], ends[good]]))
    counts = np.bincount(np.searchsorted(ends, eos), minlength=n)[good] + 2
    return _turns_of_clean(block, data, good, turn_start, turn_end, counts, reverse, two_turn)


class _Lines:
    """Which lines of a chunk's byte array are not clean."""

    def __init__(self, ends):
        import numpy as np

        self.ends = ends
        self.bad = np.zeros(len(ends), dtype=bool)

    def mark(self, positions) -> None:
        """The lines holding byte ``positions`` are not clean."""
        import numpy as np

        self.bad[np.searchsorted(self.ends, positions)] = True


def _without_missing(raw_lines: list, reverse: bool, two_turn: bool) -> BulkTurns | None:
    """:func:`bulk_turns` of a chunk with lines over the size limit (``None``): not accepted."""
    import numpy as np

    present = [raw is not None for raw in raw_lines]
    if not any(present):
        return BulkTurns(np.zeros(len(raw_lines), dtype=bool), np.zeros(0), [],
                         np.zeros(0, dtype=np.int64))
    bulk = bulk_turns([raw for raw in raw_lines if raw is not None], reverse, two_turn)
    if bulk is None:
        return None
    accepted = np.zeros(len(raw_lines), dtype=bool)
    accepted[np.asarray(present)] = bulk.accepted
    bulk.accepted = accepted
    return bulk


def _turns_of_clean(block: bytes, data, good, turn_start, turn_end, counts, reverse: bool,
                    two_turn: bool) -> BulkTurns:
    """The turns of the clean lines (``good``), given their turns' byte ranges in order."""
    import numpy as np

    length = turn_end - turn_start
    at = np.minimum(turn_start, len(data) - 4)
    weights = np.where(data[at] == 49, 1.0, 0.0)
    part_ok = (length >= 5) & ((data[at] == 48) | (data[at] == 49)) & (data[at + 1] == 46) & \
        (data[at + 2] == 48) & (data[at + 3] == 32)  # "1.0 TEXT" or "0.0 TEXT"
    first = np.cumsum(counts) - counts
    last = first + counts - 1
    kept = counts - (weights[last] == 0)  # a weight-0 response is dropped
    line_ok = (np.logical_and.reduceat(part_ok, first) & (kept >= 2)) if len(counts) else \
        np.zeros(0, dtype=bool)
    # turn order within each accepted line: reversed and/or cut to two turns
    counts = kept[line_ok]
    if two_turn:
        counts = np.minimum(counts, 2)
    within = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
    if reverse:
        within = np.repeat(kept[line_ok], counts) - 1 - within
    index = np.repeat(first[line_ok], counts) + within
    text = block.decode("latin-1")  # one byte per character; the accepted lines are ASCII
    texts = list(map(text.__getitem__, map(slice, (turn_start[index] + 4).tolist(),
                                           turn_end[index].tolist())))
    accepted = good.copy()
    accepted[good] = line_ok
    return BulkTurns(accepted, weights[index], texts, counts)
