"""``encode_flat``: a batch of turn texts in one ``tiktoken`` call equals each text encoded alone."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dialogpt.data.encoding import encode_flat, fast_gpt2_encoder

_ENCODER = fast_gpt2_encoder()
pytestmark = pytest.mark.skipif(_ENCODER is None, reason="tiktoken is not installed")

# words as a TSV line's turn texts hold them (no whitespace inside), with what GPT-2's
# pre-tokenizer treats specially: contractions, digits, punctuation runs, letters of other
# scripts, special-token text, characters that Python but not every regex calls space-like
_word = st.one_of(
    st.sampled_from(["'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "s", "ll", "123", "4.5", "...",
                     "!!", "<|endoftext|>", "naïve", "日本語", "🙂", "a'", "'", "\u200b", "\x1c",
                     "Hello", "world", "--", "\u0301", "x\u00a0y"[0]]),
    st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=4)
    .filter(lambda w: w.split() == [w]))
_text = st.lists(_word, min_size=1, max_size=6).map(" ".join)


def _alone(texts):
    ids = [_ENCODER._tiktoken.encode_ordinary(text) for text in texts]
    return [i for one in ids for i in one], [len(one) for one in ids]


@settings(max_examples=300, deadline=None)
@given(st.lists(_text, max_size=12))
def test_one_call_equals_text_by_text(texts):
    tokens, lengths = encode_flat(_ENCODER, texts)
    assert (tokens.tolist(), lengths.tolist()) == _alone(texts)


@pytest.mark.parametrize("texts", [[""], ["a", "", "b"], [" a", "b"], ["a ", "b"], ["a\nb", "c"],
                                   ["a\u3000", "b"], ["a", "\u2028b"], [], ["a\n"]])
def test_texts_that_cannot_be_joined_are_encoded_alone(texts):
    tokens, lengths = encode_flat(_ENCODER, texts)
    assert (tokens.tolist(), lengths.tolist()) == _alone(texts)


def test_encoders_without_encode_flat_are_flattened():
    class Ids:
        def encode_batch(self, texts):
            return [[len(text)] * len(text) for text in texts]

    tokens, lengths = encode_flat(Ids(), ["ab", "", "c"])
    assert tokens.tolist() == [2, 2, 1] and lengths.tolist() == [2, 0, 1]
