"""``Decoder``: histories in, responses out, batched, with optional reranking.

One ``Decoder`` serves the chat (one history at a time), batch decoding (many) and a future HTTP
server. Each call:
1. windows every history exactly as training built features (``context.build_context``);
2. left-pads the batch (pad = EOS, attention mask 0) and runs Hugging Face ``generate`` with the
   KV cache. GPT-2's learned absolute positions must start at 0 at each row's first real token;
   ``generate`` derives ``position_ids`` from the attention mask (``cumsum - 1``), which the tests
   check by comparing batched greedy output with each context decoded alone;
3. cuts every output at its first EOS (finished rows are padded with EOS by ``generate``);
4. with a ``Ranker``: generates ``num_candidates`` per context, scores them, and chooses.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Sequence

from dialogpt.cli import UserError
from dialogpt.decoding.context import (ContextWindow, build_context, context_token_budget,
                                       encode_turn)
from dialogpt.decoding.options import DecodingOptions, generation_kwargs
from dialogpt.decoding.rerank import Ranker, choose_index


@dataclass(frozen=True)
class Response:
    text: str
    """The chosen response, without EOS, stripped of surrounding whitespace."""
    ids: list[int]
    """Its token ids (EOS excluded)."""
    context: ContextWindow
    """The context the model saw."""
    candidates: list[str] = field(default_factory=list)
    """With a ranker: every candidate, in generation order."""
    scores: list[float] = field(default_factory=list)
    """With a ranker: each candidate's score."""


def model_positions(model) -> int:
    config = model.config
    return getattr(config, "n_positions", None) or config.max_position_embeddings


def cut_at_eos(tokens: Sequence[int], eos_id: int) -> list[int]:
    tokens = list(tokens)
    return tokens[:tokens.index(eos_id)] if eos_id in tokens else tokens


class Decoder:
    def __init__(self, model, tokenizer, options: DecodingOptions,
                 ranker: Ranker | None = None) -> None:
        from transformers import GenerationConfig

        self.model = model.eval()
        self.tokenizer = tokenizer
        self.options = options
        self.ranker = ranker
        self.eos_id = tokenizer.eos_token_id
        self.positions = model_positions(model)
        try:
            self.context_budget = context_token_budget(self.positions, options.max_length,
                                                       options.max_context_tokens)
        except ValueError as exc:
            raise UserError(f"--max_length {options.max_length}: {exc}") from exc
        self.candidates_per_context = options.candidate_count(ranker is not None)
        self.generation_config = GenerationConfig(**generation_kwargs(
            options, self.candidates_per_context, self.eos_id, self.eos_id))
        self.rng = random.Random(options.seed if options.seed >= 0 else None)

    @property
    def device(self):
        return next(self.model.parameters()).device

    def encode_turn(self, text: str) -> list[int]:
        return encode_turn(self.tokenizer, text)

    def window(self, history: Sequence[str]) -> ContextWindow:
        """The context for ``history`` (turn texts, oldest first; the last is answered)."""
        return build_context([self.encode_turn(turn) for turn in history], self.eos_id,
                             self.context_budget, self.options.max_history)

    def respond(self, histories: Sequence[Sequence[str]]) -> list[Response]:
        """One response per history, in order; all histories are decoded as one batch.

        A history without turns gets an empty response without running the model.
        """
        windows = [self.window(history) for history in histories]
        active = [i for i, window in enumerate(windows) if window.ids]
        generated = self.generate_ids([windows[i].ids for i in active])
        responses = [Response(text="", ids=[], context=window) for window in windows]
        texts = [[self.decode(ids) for ids in group] for group in generated]
        scores: list[list[float]] = [[] for _ in active]
        if self.ranker is not None and active:
            sources = [list(histories[i][len(histories[i]) - windows[i].turns_kept:])
                       for i in active]
            scores = self.ranker.score(sources, texts)
        for slot, index in enumerate(active):
            chosen = (choose_index(scores[slot], self.options.mmi_temperature, self.rng)
                      if self.ranker is not None else 0)
            responses[index] = Response(
                text=texts[slot][chosen], ids=generated[slot][chosen], context=windows[index],
                candidates=texts[slot] if self.ranker is not None else [],
                scores=scores[slot])
        return responses

    def decode(self, ids: Sequence[int]) -> str:
        return self.tokenizer.decode(list(ids), skip_special_tokens=True,
                                     clean_up_tokenization_spaces=False).strip()

    def generate_ids(self, contexts: Sequence[Sequence[int]]) -> list[list[list[int]]]:
        """Token ids of ``candidates_per_context`` continuations of each context, EOS cut off."""
        import torch

        if not contexts:
            return []
        width = max(len(ids) for ids in contexts)
        input_ids = torch.full((len(contexts), width), self.eos_id, dtype=torch.long)
        attention_mask = torch.zeros((len(contexts), width), dtype=torch.long)
        for row, ids in enumerate(contexts):
            input_ids[row, width - len(ids):] = torch.tensor(list(ids), dtype=torch.long)
            attention_mask[row, width - len(ids):] = 1
        with torch.inference_mode():
            output = self.model.generate(input_ids=input_ids.to(self.device),
                                         attention_mask=attention_mask.to(self.device),
                                         generation_config=self.generation_config)
        new_tokens = output[:, width:].tolist()
        per = self.candidates_per_context
        return [[cut_at_eos(tokens, self.eos_id) for tokens in new_tokens[i * per:(i + 1) * per]]
                for i in range(len(contexts))]
