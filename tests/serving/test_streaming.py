"""Streamed pieces join to the stripped reply; Server-Sent Events."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from dialogpt.serving.streaming import Stripped, sse


def streamed(pieces):
    stripper = Stripped()
    return [stripper.feed(piece) for piece in pieces]


def test_pieces_join_to_the_stripped_reply():
    pieces = streamed(["  ", " ab", " ", "cd ", "\n", "e", "  "])
    assert "".join(pieces) == "ab cd \ne"
    assert pieces[0] == "" and pieces[1] == "ab"


@given(st.lists(st.text(alphabet=" \nab\u3000", max_size=4), max_size=8))
def test_every_prefix_is_a_prefix_of_the_stripped_text(pieces):
    shown = streamed(pieces)
    final = "".join(pieces).strip()
    for end in range(len(shown) + 1):
        assert final.startswith("".join(shown[:end]))
    assert "".join(shown) == final


def test_sse_frames_json():
    event = sse({"text": "héllo"})
    assert event.startswith("data: ") and event.endswith("\n\n")
    assert json.loads(event[6:]) == {"text": "héllo"}
    assert sse("[DONE]") == "data: [DONE]\n\n"
