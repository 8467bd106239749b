"""Streaming readers: every compression, multi-stream files, truncation, corruption."""

from __future__ import annotations

import bz2
import gzip
import lzma

import pytest
import zstandard

from dialogpt.extraction.readers import (DumpReadError, ReadStats, TruncatedDumpError, find_dump,
                                         iter_lines)

LINES = [b'{"id": "%d", "body": "line number %d"}' % (i, i) for i in range(5000)]
DATA = b"\n".join(LINES) + b"\n"
COMPRESSORS = {
    ".zst": lambda data: zstandard.ZstdCompressor(level=3).compress(data),
    ".bz2": bz2.compress,
    ".xz": lzma.compress,
    ".gz": gzip.compress,
    "": lambda data: data,
}


@pytest.mark.parametrize("suffix", list(COMPRESSORS))
def test_every_format_reads_back_every_line(tmp_path, suffix):
    path = tmp_path / f"RC_2011-01{suffix}"
    path.write_bytes(COMPRESSORS[suffix](DATA))
    stats = ReadStats()
    assert list(iter_lines(path, stats)) == LINES
    assert stats.lines == len(LINES) and stats.bytes == len(DATA)
    assert find_dump(tmp_path, "RC", "2011-01") == path


@pytest.mark.parametrize("suffix", [".zst", ".bz2", ".gz", ".xz"])
def test_multi_stream_files_are_read_to_the_end(tmp_path, suffix):
    half = len(DATA) // 2
    cut = DATA.rindex(b"\n", 0, half) + 1
    path = tmp_path / f"RS_2011-01{suffix}"
    path.write_bytes(COMPRESSORS[suffix](DATA[:cut]) + COMPRESSORS[suffix](DATA[cut:]))
    assert list(iter_lines(path)) == LINES


def test_last_line_without_newline_and_blank_lines(tmp_path):
    path = tmp_path / "RS_2011-01"
    path.write_bytes(b"a\n\n  \nb")
    assert list(iter_lines(path)) == [b"a", b"b"]


@pytest.mark.parametrize("suffix", [".zst", ".bz2", ".xz", ".gz"])
def test_truncated_file_names_file_and_offset(tmp_path, suffix):
    compressed = COMPRESSORS[suffix](DATA)
    path = tmp_path / f"RC_2011-01{suffix}"
    path.write_bytes(compressed[: len(compressed) - 10])
    with pytest.raises(TruncatedDumpError, match=rf"{path.name}.*truncated.*byte {len(compressed) - 10}"):
        list(iter_lines(path))


def test_corrupt_data_is_an_error_not_silence(tmp_path):
    compressed = bytearray(bz2.compress(DATA))
    compressed[100:140] = b"\x00" * 40
    path = tmp_path / "RC_2011-01.bz2"
    path.write_bytes(bytes(compressed))
    with pytest.raises(DumpReadError, match=path.name):
        list(iter_lines(path))


@pytest.fixture(params=["installed", "stdlib"])
def gzip_backend(request, monkeypatch):
    """The gzip helpers through whatever is installed (ISA-L with the [fast] extra), and through
    the standard library's gzip."""
    from dialogpt.extraction import readers
    if request.param == "stdlib":
        monkeypatch.setattr(readers, "_gzip", gzip)
    return readers


def test_gzip_helpers_round_trip_through_either_backend(tmp_path, gzip_backend):
    text = "".join(f"t3_{i}\tt1_{i}\tcafé “{i}” 😀\n" for i in range(3000))
    with gzip_backend.gzip_text_writer(tmp_path / "out.gz") as out:
        out.write(text)
    raw = (tmp_path / "out.gz").read_bytes()
    assert gzip.decompress(raw).decode("utf-8") == text  # readable by anything that reads gzip
    two_members = gzip.compress(b"a\n") + gzip.compress(b"b\n")
    assert gzip_backend.gunzip(two_members) == b"a\nb\n"
    assert gzip_backend.gunzip(raw) == text.encode("utf-8")


def test_corrupt_gzip_raises_one_of_gzip_errors(gzip_backend):
    data = bytearray(gzip.compress(DATA))
    data[len(data) // 2: len(data) // 2 + 64] = bytes(64)
    for broken in (bytes(data), gzip.compress(DATA)[:-9]):
        with pytest.raises(gzip_backend.GZIP_ERRORS):
            gzip_backend.gunzip(broken)
