"""Issue 14, items 3 and 10 at the loaders: eval files are counted, unusable DBs say the fix."""

from __future__ import annotations

import pytest

from dialogpt.cli import UserError


@pytest.fixture(scope="module")
def tokenizer():
    from dialogpt.tokenization import load_tokenizer

    return load_tokenizer()


def test_3_eval_file_is_counted_with_reasons(tmp_path, tokenizer):
    from dialogpt.data.loader import DynamicBatchingLoader

    path = tmp_path / "valid.tsv"
    path.write_bytes(b"hello there\tgeneral kenobi\n"      # 1 example
                     b"no tab here\n"                       # bad: no response column
                     b"caf\xe9 au lait\tnon utf8\n"         # bad: not UTF-8
                     b"a EOS b\t1.0 yes\t0.0 no\n")        # 1 example, 1 zero-weight response
    loader = DynamicBatchingLoader(path, tokenizer, batch_size=2, max_seq_len=32)
    text = loader.describe()
    assert text.startswith(f"eval: 2 examples from 4 lines of {path}, 3 skipped: ")
    assert "non_utf8 1 (first: line 3)" in text and "zero_weight_response 1" in text
    assert len(loader) == 1


def test_3_eval_file_without_a_usable_line_is_an_error(tmp_path, tokenizer):
    from dialogpt.data.loader import DynamicBatchingLoader

    path = tmp_path / "valid.tsv"
    path.write_bytes(b"no tab\n\xff\xfe\tx\n")
    with pytest.raises(UserError, match="eval: 0 examples from 2 lines.*No usable evaluation"):
        DynamicBatchingLoader(path, tokenizer, batch_size=2, max_seq_len=32).describe()


def test_10_db_whose_every_example_is_too_long_says_the_fix(tmp_path):
    from dialogpt.data.loader import BucketingDataLoader
    from dialogpt.data.prepro import main as prepro

    corpus = tmp_path / "train.tsv"
    corpus.write_text("one two three four five\tsix seven eight nine\n"
                      "alpha beta gamma\tdelta epsilon\n", encoding="utf-8")
    assert prepro(["--corpus", str(corpus), "--workers", "1"]) == 0
    # by hand: "alpha beta gamma" 3 + EOS + "delta epsilon" 2-3 tokens + EOS: at least 7 tokens
    with pytest.raises(UserError, match=r"raise --max_seq_length to \d+ or more, or rebuild the "
                                        r"DB with prepro.py --max_seq_len 4"):
        BucketingDataLoader(tmp_path / "train.128len.db", batch_size=2, max_seq_len=4)
