"""Log-probabilities in the shapes clients read: OpenAI chat, OpenAI legacy completions, TGI.

The engine reports, for every chosen token, its id, its log-probability under the model's own
log-softmax and the N most likely alternatives (``TokenLogprob``); with ``echo`` the prompt's
tokens too, the first without a log-probability (nothing precedes it). This module only renders:
- chat (``choices[].logprobs.content``): ``{token, logprob, bytes, top_logprobs: [{token,
  logprob, bytes}]}`` per token;
- legacy completions (``choices[].logprobs``): parallel lists ``tokens``, ``token_logprobs``,
  ``top_logprobs`` (one ``{token: logprob}`` dict a position, the N most likely and the chosen
  token, as vLLM; null for the first prompt token)
  and ``text_offset`` (each token's start in the choice's text);
- TGI (``details.tokens``/``prefill``, stream events): ``{id, text, logprob, special}``.

A token's ``bytes`` are its exact UTF-8 bytes, also for a byte-level BPE piece that is only part
of a character (its ``token`` text then holds U+FFFD, as the tokenizer decodes it).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache


@dataclass(frozen=True)
class TokenLogprob:
    """One token: its id and text, its log-probability and the most likely alternatives."""

    id: int
    text: str
    logprob: float | None
    top: tuple[tuple[int, str, float], ...] = ()
    special: bool = False


@lru_cache(maxsize=1)
def _byte_decoder() -> dict[str, int]:
    """GPT-2's byte-level BPE alphabet: printable bytes stand for themselves, the others are
    shifted to code points from 256 up, in byte order."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1),
                 *range(ord("®"), ord("ÿ") + 1)]
    chars = {byte: chr(byte) for byte in printable}
    shifted = 0
    for byte in range(256):
        if byte not in chars:
            chars[byte] = chr(256 + shifted)
            shifted += 1
    return {char: byte for byte, char in chars.items()}


class TokenText:
    """Text and bytes of single tokens for one tokenizer (cached: the vocabulary is fixed)."""

    def __init__(self, tokenizer) -> None:
        self.tokenizer = tokenizer
        self.special_ids = set(getattr(tokenizer, "all_special_ids", []) or [])
        self.byte_level = "gpt2" in type(tokenizer).__name__.lower() or (
            getattr(tokenizer, "byte_encoder", None) is not None)

    @lru_cache(maxsize=65536)  # one TokenText a server, living as long as it
    def text(self, token_id: int) -> str:
        return self.tokenizer.decode([token_id], skip_special_tokens=False,
                                     clean_up_tokenization_spaces=False)

    def bytes(self, token_id: int) -> list[int]:
        if self.byte_level and token_id not in self.special_ids:
            piece = self.tokenizer.convert_ids_to_tokens(token_id)
            decoder = _byte_decoder()
            if piece and all(char in decoder for char in piece):
                return [decoder[char] for char in piece]
        return list(self.text(token_id).encode("utf-8"))

    def entry(self, token_id: int, logprob: float | None,
              top: list[tuple[int, float]] = ()) -> TokenLogprob:
        return TokenLogprob(token_id, self.text(token_id), logprob,
                            tuple((i, self.text(i), value) for i, value in top),
                            token_id in self.special_ids)


def chat_logprobs(tokens: list[TokenLogprob], texts: TokenText) -> dict:
    """OpenAI chat's ``logprobs`` object of one choice (the ending EOS left out, as OpenAI)."""
    return {"content": [{"token": t.text, "logprob": t.logprob, "bytes": texts.bytes(t.id),
                         "top_logprobs": [{"token": text, "logprob": value,
                                           "bytes": texts.bytes(i)} for i, text, value in t.top]}
                        for t in tokens if not t.special]}


def legacy_logprobs(tokens: list[TokenLogprob], start: int = 0) -> dict:
    """OpenAI completions' ``logprobs`` object; offsets count from ``start`` characters."""
    offsets = []
    position = start
    for token in tokens:
        offsets.append(position)
        position += len(token.text)
    return {"tokens": [t.text for t in tokens],
            "token_logprobs": [t.logprob for t in tokens],
            "top_logprobs": [None if t.logprob is None else _legacy_top(t) for t in tokens],
            "text_offset": offsets}


def reply_tokens(tokens: list[TokenLogprob] | None) -> list[TokenLogprob]:
    """A reply's tokens without the special token (EOS) that ended it: OpenAI shows text."""
    return [t for t in tokens or [] if not t.special]


def _legacy_top(token: TokenLogprob) -> dict[str, float]:
    """The N most likely tokens and the chosen one (as vLLM: N or N + 1 entries)."""
    top = {text: value for _, text, value in token.top}
    top.setdefault(token.text, token.logprob)
    return top


def tgi_token(token: TokenLogprob) -> dict:
    return {"id": token.id, "text": token.text, "logprob": token.logprob,
            "special": token.special}


def tgi_top(token: TokenLogprob) -> list[dict]:
    return [{"id": i, "text": text, "logprob": value, "special": False}
            for i, text, value in token.top]
