"""Batched greedy decoding for causal LMs (DialoGPT): Hugging Face ``generate``'s tokens, for less.

``generate(do_sample=False)`` pads a batch to its longest context, prefills it in one forward, runs
every row until the last one stops, and grows each layer's KV cache by concatenation (a copy of
the whole cache at every step). ``greedy_generate`` runs the same model forwards differently:

1. contexts are sorted by length and split into *groups*, each decoded as one batch, whose KV
   cache (rows x (longest context + new tokens)) stays within ``CACHE_TOKENS``;
2. a group is prefilled in *chunks* of neighbouring lengths of at most ``PREFILL_TOKENS`` padded
   tokens, so short contexts are not padded to the longest one;
3. the chunks' caches are left-padded to one width and joined into one buffer per layer with room
   for the new tokens, written in place at each step; every step then runs all rows of the group
   at once (the weights are read once per step for all of them);
4. a row leaves the batch at its EOS.

Masks and positions follow ``generate``: padding is masked out, and each row's positions start at
0 at its first real token (GPT-2's absolute positions). The next token is the arg-max of the last
position's logits, as in ``generate`` without logits processors (the caller checks that its
options need none); the logits are GPT-2's (``lm_head`` of the base model's last hidden state),
so the caller sends GPT-2 models only.
"""

from __future__ import annotations

from functools import cache
from typing import Sequence

PREFILL_TOKENS = 256
"""Padded tokens per prefill forward: enough rows for efficient matrix products, few enough that
length-sorted neighbours pad little (64 contexts of 6-109 tokens: 5% padding; 25% at 1024)."""
HEAD_ROWS = 2048
"""Vocabulary rows per product of the LM head: MKL computes [64, 768] x [768, 50257] at about
two thirds of the speed it reaches on 2048-row slices (measured on this project's 2-core EPYC;
the slices' products are the same dot products)."""
CACHE_TOKENS = 16384
"""Rows x (longest context + new tokens) per group: bounds the KV cache (1.2 GB for the 117M
model: 12 layers x 2 x 768 floats per token) whatever the batch."""


def spans(lengths: Sequence[int], budget: int) -> list[tuple[int, int]]:
    """``(start, end)`` runs of ``lengths`` (sorted longest first) with ``rows x first length``
    at most ``budget``; a single row may exceed it."""
    runs, start = [], 0
    while start < len(lengths):
        end = start + max(1, budget // max(lengths[start], 1))
        runs.append((start, min(end, len(lengths))))
        start = runs[-1][1]
    return runs


def greedy_generate(model, contexts: Sequence[Sequence[int]], max_new_tokens: int,
                    eos_id: int) -> list[list[int]]:
    """The greedy continuation of each context (at most ``max_new_tokens``, cut before EOS).

    Contexts must be non-empty and fit the model's positions together with the new tokens.
    """
    import torch

    order = sorted(range(len(contexts)), key=lambda i: -len(contexts[i]))
    lengths = [len(contexts[i]) + max_new_tokens for i in order]
    results: list[list[int]] = [[] for _ in contexts]
    with torch.inference_mode():
        for start, end in spans(lengths, CACHE_TOKENS):
            group = order[start:end]
            decoded = _decode_group(model, [contexts[i] for i in group], max_new_tokens, eos_id)
            for index, ids in zip(group, decoded):
                results[index] = ids
    return results


def _decode_group(model, contexts: list[Sequence[int]], max_new_tokens: int, eos_id: int
                  ) -> list[list[int]]:
    """Prefill ``contexts`` (longest first) chunk by chunk, then decode them as one batch."""
    import torch

    chunks = [_prefill(model, contexts[start:end], eos_id)
              for start, end in spans([len(ids) for ids in contexts], PREFILL_TOKENS)]
    cache, mask = _join(chunks, max_new_tokens - 1)
    tokens = torch.cat([chunk[2] for chunk in chunks])
    positions = mask.sum(-1, keepdim=True)  # each row's next position
    rows = list(range(len(contexts)))
    out: list[list[int]] = [[] for _ in contexts]
    for step in range(max_new_tokens):
        for row, token in zip(rows, tokens.tolist()):
            out[row].append(token)
        alive = tokens != eos_id
        if step == max_new_tokens - 1 or not bool(alive.any()):
            break
        if not bool(alive.all()):
            keep = alive.nonzero().squeeze(1)
            cache.batch_select_indices(keep)
            mask, positions, tokens = mask[keep], positions[keep], tokens[keep]
            rows = [rows[i] for i in keep.tolist()]
        mask = torch.cat([mask, mask.new_ones((mask.shape[0], 1))], dim=1)
        hidden = model.base_model(input_ids=tokens[:, None], attention_mask=mask,
                                  position_ids=positions, cache=cache, use_cache=True)
        tokens = next_tokens(model, hidden.last_hidden_state)
        positions = positions + 1
    return [ids[:-1] if ids[-1] == eos_id else ids for ids in out]


def _prefill(model, contexts: list[Sequence[int]], eos_id: int):
    """One forward over left-padded ``contexts``: (attention mask, cache, first new tokens)."""
    import torch
    from transformers import DynamicCache

    width = max(len(ids) for ids in contexts)
    input_ids = torch.full((len(contexts), width), eos_id, dtype=torch.long)
    mask = torch.zeros((len(contexts), width), dtype=torch.long)
    for row, ids in enumerate(contexts):
        input_ids[row, width - len(ids):] = torch.tensor(list(ids), dtype=torch.long)
        mask[row, width - len(ids):] = 1
    device = model.device
    positions = (mask.cumsum(-1) - 1).masked_fill(mask == 0, 0)
    output = model.base_model(input_ids=input_ids.to(device), attention_mask=mask.to(device),
                              position_ids=positions.to(device),
                              cache=DynamicCache(config=model.config), use_cache=True)
    return mask.to(device), output.cache, next_tokens(model, output.last_hidden_state)


def next_tokens(model, hidden):
    """The arg-max of GPT-2's logits (``lm_head`` of the last position's hidden state) per row,
    the head's product taken in ``HEAD_ROWS`` slices of the vocabulary."""
    import torch
    from torch.nn.functional import linear

    head = model.get_output_embeddings()
    last = hidden[:, -1]
    logits = torch.cat([linear(last, rows) for rows in head.weight.split(HEAD_ROWS)], dim=-1)
    if head.bias is not None:
        logits += head.bias
    return logits.float().argmax(-1)


def _join(chunks, room: int):
    """One cache for all chunks' rows, left-padded to the widest, with ``room`` free positions
    per layer; and the matching attention mask."""
    import torch
    from torch.nn.functional import pad
    from transformers.cache_utils import Cache

    width = max(mask.shape[1] for mask, _, _ in chunks)
    mask = torch.cat([pad(chunk_mask, (width - chunk_mask.shape[1], 0))
                      for chunk_mask, _, _ in chunks])
    layers = []
    for index in range(len(chunks[0][1].layers)):
        parts = [(cache.layers[index].keys, cache.layers[index].values) for _, cache, _ in chunks]
        layers.append(in_place_layer()(*(_stack([part[kind] for part in parts], width, room)
                                     for kind in (0, 1)), width))
    return Cache(layers=layers), mask


def _stack(parts, width: int, room: int):
    """``[rows, heads, width + room, dim]``: each part right-aligned at ``width``, zeros left of
    it (masked out, but never uninitialised memory, which could hold NaN)."""
    rows = sum(part.shape[0] for part in parts)
    heads, dim = parts[0].shape[1], parts[0].shape[3]
    buffer = parts[0].new_empty((rows, heads, width + room, dim))
    row = 0
    for part in parts:
        start = width - part.shape[2]
        buffer[row:row + part.shape[0], :, :start].zero_()
        buffer[row:row + part.shape[0], :, start:width] = part
        row += part.shape[0]
    return buffer


@cache
def in_place_layer():
    """The ``InPlaceLayer`` class (made on first use: transformers is a heavy import)."""
    from transformers.cache_utils import DynamicLayer

    class InPlaceLayer(DynamicLayer):
        """A ``DynamicLayer`` over preallocated buffers: ``update`` writes the new positions in
        place; ``keys``/``values`` are views of the filled part."""

        def __init__(self, keys, values, length: int) -> None:
            super().__init__()
            self.key_buffer, self.value_buffer, self.length = keys, values, length
            self.device, self.is_initialized = keys.device, True
            self._views()

        def _views(self) -> None:
            self.keys = self.key_buffer[:, :, :self.length]
            self.values = self.value_buffer[:, :, :self.length]

        def update(self, key_states, value_states, *args, **kwargs):
            end = self.length + key_states.shape[-2]
            if end > self.key_buffer.shape[2]:
                raise RuntimeError(f"KV cache buffer full ({self.key_buffer.shape[2]} positions)")
            self.key_buffer[:, :, self.length:end] = key_states
            self.value_buffer[:, :, self.length:end] = value_states
            self.length = end
            self._views()
            return self.keys, self.values

        def batch_select_indices(self, indices) -> None:
            self.key_buffer = self.key_buffer[indices]
            self.value_buffer = self.value_buffer[indices]
            self._views()

    return InPlaceLayer

