"""Turn text -> token ids, batched through the ``tokenizers`` Rust encoder.

When the tokenizer is GPT-2's BPE (every DialoGPT model's) and ``tiktoken`` is installed, the
same BPE runs through ``tiktoken`` instead: identical ids (checked on a probe at start-up and by
the tests), about twice the speed per core. Ids equal the original's ``GPT2Tokenizer.encode(text)`` (pytorch-pretrained-bert): no special
tokens are added and a literal ``<|endoftext|>`` inside a comment is encoded as ordinary text, so
user text can never inject a turn separator. The encoder is picklable (it travels as the
tokenizer's JSON), so multiprocessing workers rebuild it once each.
"""

from __future__ import annotations

from typing import Sequence


_PROBE = ("Hello world! I'll say it's 42, isn't it?  Ünïcödé 日本語 \t tabs\n"
          "<|endoftext|> stays text   ")
_PROBE_IDS = (15496, 995, 0, 314, 1183, 910, 340, 338, 5433, 11, 2125, 470, 340, 30, 220, 49363,
              77, 26884, 66, 9101, 67, 2634, 10545, 245, 98, 17312, 105, 45739, 252, 220, 197,
              22524, 198, 27, 91, 437, 1659, 5239, 91, 29, 14768, 2420, 220, 220, 220)
"""GPT-2's ids of ``_PROBE`` (``GPT2TokenizerFast``, special tokens as text; a test re-derives them)."""


def _tiktoken_for(tokenizer, backend):
    """A ``tiktoken`` GPT-2 encoding when ``tokenizer`` is GPT-2's BPE, else None."""
    from dialogpt.tokenization import GPT2_FINGERPRINT, gpt2_tiktoken, tokenizer_fingerprint

    if tokenizer_fingerprint(tokenizer) != GPT2_FINGERPRINT:
        return None
    encoding = gpt2_tiktoken()
    if encoding is None:
        return None
    previous = backend.encode_special_tokens
    backend.encode_special_tokens = True
    try:
        expected = backend.encode(_PROBE, add_special_tokens=False).ids
    finally:
        backend.encode_special_tokens = previous
    return encoding if encoding.encode_ordinary(_PROBE) == expected else None


class TurnEncoder:
    """Encode many turn texts at once; ``eos_id`` is the tokenizer's end-of-text id.

    In the creating process the tokenizer's own Rust backend is used (building a copy costs
    ~0.3 s); its ``encode_special_tokens`` switch is set only for the duration of each call.
    ``use_tiktoken`` (default) switches to ``tiktoken`` for the GPT-2 BPE.
    """

    def __init__(self, tokenizer, use_tiktoken: bool = True):
        backend = getattr(tokenizer, "backend_tokenizer", None)
        if backend is None:
            raise TypeError("TurnEncoder needs a fast (Rust-backed) tokenizer")
        self.eos_id = int(tokenizer.eos_token_id)
        self.vocab_size = len(tokenizer)
        self._backend = backend
        self._owned = False
        self._tiktoken = _tiktoken_for(tokenizer, backend) if use_tiktoken else None
        if backend.truncation is not None or backend.padding is not None:
            self._own(backend.to_str())

    @property
    def engine(self) -> str:
        return "tiktoken" if self._tiktoken is not None else "tokenizers"

    def _own(self, tokenizer_json: str) -> None:
        from tokenizers import Tokenizer

        backend = Tokenizer.from_str(tokenizer_json)
        backend.no_padding()
        backend.no_truncation()
        backend.encode_special_tokens = True
        self._backend = backend
        self._owned = True

    def encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
        if not texts:
            return []
        if self._tiktoken is not None:
            encode = self._tiktoken.encode_ordinary  # special tokens in text stay text
            return [encode(text) for text in texts]
        backend = self._backend
        encode = getattr(backend, "encode_batch_fast", backend.encode_batch)
        if self._owned:
            return [encoding.ids for encoding in encode(list(texts), add_special_tokens=False)]
        previous = backend.encode_special_tokens
        backend.encode_special_tokens = True
        try:
            return [encoding.ids for encoding in encode(list(texts), add_special_tokens=False)]
        finally:
            backend.encode_special_tokens = previous

    def __getstate__(self) -> dict:
        return {"tokenizer_json": self._backend.to_str(), "eos_id": self.eos_id,
                "vocab_size": self.vocab_size, "tiktoken": self._tiktoken is not None}

    def __setstate__(self, state: dict) -> None:
        self.eos_id = state["eos_id"]
        self.vocab_size = state["vocab_size"]
        self._own(state["tokenizer_json"])
        self._tiktoken = None
        if state["tiktoken"]:
            from dialogpt.tokenization import gpt2_tiktoken
            self._tiktoken = gpt2_tiktoken()


class Gpt2TiktokenEncoder:
    """The GPT-2 BPE through ``tiktoken`` alone: same ``encode_batch``/``eos_id``/``vocab_size``
    as :class:`TurnEncoder`, without importing ``transformers`` (which costs prepro seconds of
    start-up). Built by :func:`fast_gpt2_encoder`; pickles as nothing but its kind."""

    engine = "tiktoken"

    def __init__(self, encoding):
        from dialogpt.tokenization import GPT2_EOS_ID

        self._tiktoken = encoding
        self.eos_id = GPT2_EOS_ID
        self.vocab_size = GPT2_EOS_ID + 1

    def encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
        encode = self._tiktoken.encode_ordinary  # special tokens in text stay text
        return [encode(text) for text in texts]

    def __getstate__(self) -> dict:
        return {}

    def __setstate__(self, state: dict) -> None:
        from dialogpt.tokenization import gpt2_tiktoken

        self.__init__(gpt2_tiktoken())


def fast_gpt2_encoder() -> Gpt2TiktokenEncoder | None:
    """The offline GPT-2 BPE (``gpt2-bpe``) as a :class:`Gpt2TiktokenEncoder`, or None when
    ``tiktoken`` is missing or its ids of the probe differ from GPT-2's (then use
    ``TurnEncoder(load_tokenizer("gpt2-bpe"))``)."""
    from dialogpt.tokenization import gpt2_tiktoken

    encoding = gpt2_tiktoken()
    if encoding is None or tuple(encoding.encode_ordinary(_PROBE)) != _PROBE_IDS:
        return None
    return Gpt2TiktokenEncoder(encoding)
