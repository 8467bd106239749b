"""Key files and discard hashes."""

from __future__ import annotations

import pytest

from dialogpt.cli import UserError
from dialogpt.extraction.keys import load_discard_hashes, load_pair_keys, load_tagged_keys

from .conftest import write_gzip_lines


def test_pair_keys_by_tag(tmp_path):
    path = write_gzip_lines(tmp_path / "2011-01.gz", [
        "t3_a\tt1_b\tdep", "t3_a\tt1_b\tkeep  ", "t3_a\tt1_c\tdep", "t3_a\tt1_d\tkeep\textra"])
    assert load_pair_keys(path, "dep") == {"t3_a\tt1_b", "t3_a\tt1_c"}
    assert load_pair_keys(path, "keep") == {"t3_a\tt1_b"}


def test_tagged_keys_hold_the_same_pairs(tmp_path):
    lines = ["t3_a\tt1_b\tdep", "t3_a\tt1_b\tkeep  \r", "t3_a\tt1_c\tdep", "t3_a\tt1_d\tkeep\textra",
             "t3_e\tt1_f", "", "  ", "t3_g\tt1_h\tkeep\tkeep", "t3_x\tt1_y\tkeeper"]
    path = write_gzip_lines(tmp_path / "2011-01.gz", lines)
    probes = ["t3_a\tt1_b", "t3_a\tt1_c", "t3_a\tt1_d", "t3_e\tt1_f", "t3_g\tt1_h", "t3_g\tt1_h\tkeep",
              "t3_x\tt1_y", "", "t3_a"]
    for tag in ("dep", "keep"):
        pairs, tagged = load_pair_keys(path, tag), load_tagged_keys(path, tag)
        assert [probe in tagged for probe in probes] == [probe in pairs for probe in probes]
        assert {probe for probe in probes if probe in tagged} == pairs  # probes hold every pair


def test_discard_hashes_skip_dep_lines(tmp_path):
    path = write_gzip_lines(tmp_path / "2011-01-o.gz", ["abc", "def ", "t3_a\tt1_b\tdep"])
    assert load_discard_hashes(path) == {"abc", "def"}


def test_missing_key_file_says_what_to_do(tmp_path):
    with pytest.raises(UserError, match="ignore_keys"):
        load_pair_keys(tmp_path / "nope.gz", "dep")


def test_unreadable_key_file_is_a_user_error(tmp_path):
    path = tmp_path / "2011-01.gz"
    path.write_bytes(b"\x1f\x8b\x08\x00" + bytes(range(200)))
    with pytest.raises(UserError, match="not readable gzip text"):
        load_pair_keys(path, "keep")
