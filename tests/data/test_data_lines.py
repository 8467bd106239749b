"""Line reading: terminators, BOM, the length limit (bounded memory), strict UTF-8."""

from __future__ import annotations

import io

import pytest

from dialogpt.data.features import BadLine
from dialogpt.data.lines import decode_line, read_raw_lines


def test_lines_split_on_newline_only_and_keep_a_final_unterminated_line():
    data = b"a\tb\r\nc\rd\te\n\nlast"
    assert list(read_raw_lines(io.BytesIO(data))) == [b"a\tb\r\n", b"c\rd\te\n", b"\n", b"last"]
    assert list(read_raw_lines(io.BytesIO(b""))) == []


@pytest.mark.parametrize("ending", [b"\n", b"\r\n"])
def test_length_limit_is_exact_and_excludes_the_terminator(ending):
    data = b"x" * 10 + ending + b"y" * 11 + ending + b"z" * 100 + ending + b"ok" + ending
    lines = list(read_raw_lines(io.BytesIO(data), max_bytes=10))
    assert lines == [b"x" * 10 + ending, None, None, b"ok" + ending]


def test_length_limit_on_an_unterminated_last_line():
    assert list(read_raw_lines(io.BytesIO(b"x" * 10), max_bytes=10)) == [b"x" * 10]
    assert list(read_raw_lines(io.BytesIO(b"x" * 11), max_bytes=10)) == [None]


def test_decode_normalises_crlf_and_bom():
    decoded = decode_line(b"\xef\xbb\xbfa\tb\r\n")
    assert (decoded.text, decoded.crlf, decoded.bom) == ("a\tb", True, True)
    assert decode_line(b"a\tb").text == "a\tb"


@pytest.mark.parametrize("raw, reason", [(b"a\xff\tb\n", "non_utf8"), (None, "line_too_long"),
                                         (b"\xed\xa0\x80\tb\n", "non_utf8")])
def test_decode_rejects(raw, reason):
    with pytest.raises(BadLine) as info:
        decode_line(raw)
    assert info.value.reason == reason
