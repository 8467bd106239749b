"""Turn text -> token ids, batched through the ``tokenizers`` Rust encoder.

When the tokenizer is GPT-2's BPE (every DialoGPT model's) and ``tiktoken`` is installed, the
same BPE runs through ``tiktoken`` instead: identical ids (checked on a probe at start-up and by
the tests), about twice the speed per core. Ids equal the original's ``GPT2Tokenizer.encode(text)`` (pytorch-pretrained-bert): no special
tokens are added and a literal ``<|endoftext|>`` inside a comment is encoded as ordinary text, so
user text can never inject a turn separator. The encoder is picklable (it travels as the
tokenizer's JSON), so multiprocessing workers rebuild it once each.
"""

from __future__ import annotations

import re
from typing import Sequence


_PROBE = ("Hello world! I'll say it's 42, isn't it?  Ünïcödé 日本語 \t tabs\n"
          "<|endoftext|> stays text   ")
_PROBE_IDS = (15496, 995, 0, 314, 1183, 910, 340, 338, 5433, 11, 2125, 470, 340, 30, 220, 49363,
              77, 26884, 66, 9101, 67, 2634, 10545, 245, 98, 17312, 105, 45739, 252, 220, 197,
              22524, 198, 27, 91, 437, 1659, 5239, 91, 29, 14768, 2420, 220, 220, 220)
"""GPT-2's ids of ``_PROBE`` (``GPT2TokenizerFast``, special tokens as text; a test re-derives them)."""


_NEWLINE_ID = 198
"""GPT-2's id of ``"\\n"`` (the separator of :func:`tiktoken_flat`)."""

_EDGE_SPACE = re.compile(r"\n\s|\n(?<=\s\n)")
"""Whitespace next to a separator of a ``"\\n"``-joined batch (an empty text matches too); each
branch starts with the literal, which ``re`` scans for fast (~1 ms per MB)."""


def encode_flat(encoder, texts: Sequence[str]):
    """``(tokens, lengths)``: the ids of all ``texts`` concatenated (a uint32 array) and each
    text's number of ids (int64), equal to ``encoder.encode_batch(texts)`` flattened.

    Uses the encoder's own ``encode_flat`` when it has one (the GPT-2 ``tiktoken`` encoders: one
    tokenizer call per batch, see :func:`tiktoken_flat`)."""
    flat = getattr(encoder, "encode_flat", None)
    if flat is not None:
        return flat(texts)
    return _flatten(encoder.encode_batch(texts))


def _flatten(ids: list[list[int]]):
    import itertools

    import numpy as np

    lengths = np.fromiter(map(len, ids), dtype=np.int64, count=len(ids))
    tokens = np.fromiter(itertools.chain.from_iterable(ids), dtype=np.uint32,
                         count=int(lengths.sum()))
    return tokens, lengths


def tiktoken_flat(encoding, texts: Sequence[str]):
    """:func:`encode_flat` with the GPT-2 ``tiktoken`` encoding in one call: the texts joined by
    ``"\\n"``, encoded once (the Rust side runs without the GIL), split at the separators.

    Equal to encoding each text alone when no text is empty, contains ``"\\n"`` or starts or ends
    with whitespace (every turn text of a TSV line: its words joined by single spaces). GPT-2's
    pre-tokenizer pattern (``'s|'t|...| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+``)
    then cuts the joined string into each text's own pieces plus a piece ``"\\n"`` between two
    texts: no alternative but the whitespace ones matches a ``"\\n"``, a piece inside a text ends at
    its last character whether the string ends or a ``"\\n"`` follows (it has no look-ahead past a
    non-space), and the ``"\\n"`` between two non-space characters is one whitespace piece, id 198.
    Pieces are BPE-encoded independently, and a text without ``"\\n"`` yields no id 198, so the
    ids split exactly at the 198s. Any other batch (or a count of 198s that differs) is encoded
    text by text. Special tokens in text stay text, as with ``encode_ordinary``."""
    import numpy as np

    joined = "\n".join(texts)
    if joined and not joined[0].isspace() and not joined[-1].isspace() and \
            joined.count("\n") == len(texts) - 1 and not _EDGE_SPACE.search(joined):
        ids = encoding.encode_to_numpy(joined, allowed_special=set(), disallowed_special=())
        separators = np.flatnonzero(ids == _NEWLINE_ID)
        if len(separators) == len(texts) - 1:
            ends = np.append(separators, len(ids))
            lengths = ends - np.append(-1, separators) - 1
            return np.delete(ids, separators), lengths.astype(np.int64)
    encode = encoding.encode_ordinary
    return _flatten([encode(text) for text in texts])


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

    def encode_flat(self, texts: Sequence[str]):
        """``(tokens, lengths)``: :func:`encode_flat` (one ``tiktoken`` call for the GPT-2 BPE)."""
        if self._tiktoken is not None:
            return tiktoken_flat(self._tiktoken, texts)
        return _flatten(self.encode_batch(texts))

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

    def encode_flat(self, texts: Sequence[str]):
        """:func:`tiktoken_flat`: ``(tokens, lengths)`` of all texts, one tokenizer call."""
        return tiktoken_flat(self._tiktoken, texts)

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
