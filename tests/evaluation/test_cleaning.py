"""The official ``-c`` cleaning; expected strings are what the official ``clean_str`` returns."""

from __future__ import annotations

import pytest

from dialogpt.evaluation.cleaning import clean_text


@pytest.mark.parametrize("raw, cleaned", [
    # the example of the DSTC-7 evaluation README
    (" I don't know:). how about this?https://github.com/golsun/deep-RL-time-series",
     "i do n't know :) . how about this ? __url__"),
    ("please try [ GitHub ] ( https://github.com )", "please try github"),
    ("The finale [ they knew ] ( http://x.y ) ok", "the finale they knew ok"),
    ("I WON'T , can't , won't", "i will n't , can n't , will n't"),
    ("They're here, we'll see'em", "they 're here , we 'll see 'em"),
    ("cabrón 30 €", "cabr n 30"),
    ("Visit www.site.com/path_x or HTTP://A.B", "visit www.site.com path x or __url__"),
    ("emoji 😀 only", "emoji only"),
    ("😀", ""),
    ("  ", ""),
])
def test_clean_text_matches_the_official_cleaning(raw, cleaned):
    assert clean_text(raw) == cleaned
