"""A backward (MMI) model is evaluated on reversed lines, like its prepro.py --reverse DB."""

from __future__ import annotations

from dialogpt.data.loader import DynamicBatchingLoader
from dialogpt.tokenization import load_tokenizer

LINES = ["0.0 how are you ? EOS 1.0 fine , and you ?\t1.0 great thanks",
         "1.0 what is your favorite color ?\t1.0 blue , and yours ?"]
# The same conversations with their turns reversed by hand: the oldest turn is the target.
REVERSED_BY_HAND = ["1.0 great thanks EOS 1.0 fine , and you ?\t1.0 how are you ?",
                    "1.0 blue , and yours ?\t1.0 what is your favorite color ?"]


def batches(loader):
    return [{key: value.tolist() for key, value in batch.items()} for batch in loader]


def test_reverse_loader_equals_the_forward_loader_on_hand_reversed_lines(tmp_path):
    tokenizer = load_tokenizer()
    forward_tsv = tmp_path / "valid.tsv"
    forward_tsv.write_text("".join(line + "\n" for line in LINES), encoding="utf-8")
    by_hand = tmp_path / "by_hand.tsv"
    by_hand.write_text("".join(line + "\n" for line in REVERSED_BY_HAND), encoding="utf-8")
    reverse = DynamicBatchingLoader(forward_tsv, tokenizer, 2, 64, reverse=True)
    expected = DynamicBatchingLoader(by_hand, tokenizer, 2, 64)
    assert batches(reverse) == batches(expected)
    assert batches(DynamicBatchingLoader(forward_tsv, tokenizer, 2, 64)) != batches(expected)
