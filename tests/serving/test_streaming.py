"""Per-row text while generating: shown text is always a prefix of the final reply."""

from __future__ import annotations

import json
import threading

from dialogpt.serving.streaming import RowText, cut_at_stop, final_text, showable, sse

EOS = 0


def chars(ids):
    """A toy detokeniser: token i is the i-th character of this alphabet (0 is EOS)."""
    alphabet = "\0ab cd\n\ufffdxyz"
    return "".join(alphabet[i] for i in ids)


def run(tokens, limit=50, stops=()):
    deltas: list[str] = []
    row = RowText(chars, EOS, limit, stops, deltas.append)
    for token in tokens:
        row.push(token)
    text, _ = final_text(chars(row.ids), stops)
    row.finish(text)
    return deltas, text, row


def test_deltas_join_to_the_stripped_reply():
    # " ab cd  " -> shown pieces never include the leading or trailing spaces.
    deltas, text, row = run([3, 1, 2, 3, 4, 5, 3, 3, EOS, 1, 1])
    assert text == "ab cd"
    assert "".join(deltas) == "ab cd"
    assert deltas[0] == "a" and row.done
    assert row.ids == [3, 1, 2, 3, 4, 5, 3, 3]  # nothing after EOS


def test_limit_ends_the_row():
    _, text, row = run([1, 2, 1, 2, 1], limit=3)
    assert text == "aba" and row.ids == [1, 2, 1]


def test_stop_sequence_is_never_shown():
    deltas, text, row = run([1, 2, 3, 4, 5, 1, 1], stops=("cd",))
    assert text == "ab" and "".join(deltas) == "ab"
    assert row.done and row.ids == [1, 2, 3, 4, 5]
    assert all("c" not in delta for delta in deltas)


def test_held_back_pieces():
    assert showable("hello wor", ("world",)) == "hello"
    assert showable("  hi \n", ()) == "hi"
    assert showable("caf\ufffd", ()) == "caf"
    assert cut_at_stop("a STOP b stop", ["stop", "STOP"]) == ("a ", True)


def test_a_cancelled_row_is_finished_and_shows_nothing_more():
    cancelled = threading.Event()
    deltas: list[str] = []
    row = RowText(chars, EOS, 50, (), deltas.append, cancelled)
    row.push(1)
    cancelled.set()
    row.push(2)
    assert row.finished and row.ids == [1] and deltas == ["a"]


def test_sse_format():
    assert sse({"a": "é"}) == 'data: {"a": "é"}\n\n'
    assert json.loads(sse({"x": 1})[len("data: "):]) == {"x": 1}
    assert sse("[DONE]") == "data: [DONE]\n\n"
