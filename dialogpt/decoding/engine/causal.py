"""GPT-2's forward pass over the engine's slot cache (plain torch on the model's own modules).

One call runs the decoding rows (one token each, the rows in cache slots ``0..n-1``) and any
prompt chunks of newcomers (each chunk continuing its own slot from column ``start``) as one
token-packed batch: the layer norms, projections and MLP see ``n + sum(chunk lengths)`` tokens
without padding, so the weights are read once per step for both; only attention is done per
group (decoding rows together over a view of the cache, each chunk alone, causally). Positions
are each row's own column (GPT-2's learned absolute positions start at 0 at the first prompt
token), the same as Hugging Face ``generate`` derives from a left-padded attention mask.
"""

from __future__ import annotations

import math
import weakref
from typing import Sequence

DERIVED: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
"""Weights re-laid out for speed, by module: ``(key, tensor)``, shared by every engine over the
model and dropped with it (kept off the modules, so a model still deep-copies and pickles)."""
HEAD_ROWS = 2048
"""Vocabulary rows per product of the LM head (MKL is faster on [rows, 768] x [768, 2048]
slices than on the whole 50257-row head; the slices' dot products are the same)."""
FEW_ROWS = 2
"""Up to this many rows, the CPU head multiplies by a transposed copy of its weight
(``[768, vocab]``): MKL's matrix-vector product reads that layout faster (one row of GPT-2's head:
6.2 ms against 10.5 ms for the sliced ``[vocab, 768]`` weight, 2 rows 12.7 against 20.4 ms; from 4
rows on the slices are faster)."""


class OutputLayer:
    """The model's ``head(hidden)`` in float32: the product taken in ``HEAD_ROWS`` vocabulary
    slices, or, for ``FEW_ROWS`` rows on CPU, against a transposed copy of the weight made on
    first use and kept in ``DERIVED`` (the head's size again in memory, e.g. 154 MB for
    GPT-2; remade if the weight changes), so every engine over the model shares it."""

    def __init__(self, model) -> None:
        self.model = model

    def __call__(self, hidden):
        import torch
        from torch.nn.functional import linear

        head = self.model.get_output_embeddings()
        weight = getattr(head, "weight", None)
        if not isinstance(weight, torch.Tensor):  # e.g. a quantized head
            return head(hidden).float()
        if hidden.shape[0] <= FEW_ROWS and weight.device.type == "cpu":
            logits = hidden @ transposed(head, weight)
        else:
            logits = torch.cat([linear(hidden, rows) for rows in weight.split(HEAD_ROWS)],
                               dim=-1)
        if getattr(head, "bias", None) is not None:
            logits += head.bias
        return logits.float()


def derived(module, weight, make):
    """``make(weight)``, cached in ``DERIVED`` for ``module`` while ``weight`` is unchanged (the
    same storage, version and dtype)."""
    key = (weight.data_ptr(), weight._version, weight.dtype)
    cached = DERIVED.get(module)
    if cached is None or cached[0] != key:
        cached = (key, make(weight.detach()))
        DERIVED[module] = cached
    return cached[1]


def transposed(head, weight):
    """``weight.t()`` made contiguous, cached for ``head`` while ``weight`` is unchanged."""
    return derived(head, weight, lambda w: w.t().contiguous())


PACK_ROWS = 8
"""The row count oneDNN's packed weights are laid out for (see ``PackedLinear``)."""


class PackedLinear:
    """A GPT-2 ``Conv1D`` as oneDNN's linear over a weight packed once (CPU, float32): on this
    2-core EPYC, ``[8, 768] x [768, 3072]`` runs at 49-56 GFLOP/s against MKL ``addmm``'s 36-40
    (equal at 32 rows and at one), so an engine step of 8 rows took 11.4-11.7 CPU ms a token
    against 12.9-13.1. The packed copy costs the layer's size again in memory (340 MB for GPT-2
    117M), is kept in ``DERIVED`` (every engine over the model shares it) and is remade if the
    weight changes; results equal ``addmm``'s to rounding."""

    def __init__(self, module) -> None:
        self.module = module

    @staticmethod
    def available(module) -> bool:
        import torch

        weight = getattr(module, "weight", None)
        return (isinstance(weight, torch.Tensor) and weight.device.type == "cpu"
                and weight.dtype == torch.float32 and torch.backends.mkldnn.is_available()
                and hasattr(torch.ops.mkldnn, "_linear_pointwise"))

    def __call__(self, x):
        import torch

        module = self.module
        packed = derived(module, module.weight, lambda w: torch.ops.mkldnn._reorder_linear_weight(
            w.t().contiguous(), PACK_ROWS))
        return torch.ops.mkldnn._linear_pointwise(x, packed, module.bias, "none", [], "")


GELU_SCALE = 2 * (2 / math.pi) ** 0.5


def gelu_tanh(x):
    """GPT-2's ``gelu_new``, ``0.5 x (1 + tanh(u))`` with ``u = sqrt(2 / pi) (x + 0.044715 x^3)``,
    computed in place as ``x sigmoid(2u)`` (the same function: ``1 + tanh(u) = 2 sigmoid(2u)``).
    torch's CPU ``tanh`` is slow: on ``[64, 3072]`` this takes 0.35 ms against 0.73 ms for
    ``gelu(x, approximate="tanh")``; the two differ by rounding (at most 5e-7 on activations of
    a few units)."""
    u = x * x
    u.mul_(0.044715 * GELU_SCALE).add_(GELU_SCALE).mul_(x)
    return u.sigmoid_().mul_(x)


DECODE_GROUP = 16
"""Decoding rows attend in groups of this many consecutive slots, each group over the cache
columns up to its own longest row (one width for the whole batch reads every row's cache to the
longest row's length). Rows sit in slots in the order they were admitted, so a batch admitted
longest prompt first (``Decoder`` submits its batches so) reads little beyond each row's
length: 64 prompts of 6-109 tokens (``vs_ctranslate2.py``'s) decoding 32 tokens each read 1.89
times the columns they use in one group, 1.18 times in groups of 16."""


def attention_groups(lens):
    """``(slots, width, mask)`` for each group of ``DECODE_GROUP`` decoding rows: the group's
    slot range, the columns it reads (its longest row's ``lens + 1``), and which of them each row
    attends (``[rows, 1, 1, width]``, its own columns up to its ``lens``)."""
    import torch

    groups = []
    for first in range(0, int(lens.shape[0]), DECODE_GROUP):
        part = slice(first, min(first + DECODE_GROUP, int(lens.shape[0])))
        group_lens = lens[part]
        width = int(group_lens.max()) + 1
        columns = torch.arange(width, device=lens.device)
        groups.append((part, width, (columns[None, :] <= group_lens[:, None])[:, None, None, :]))
    return groups


def grouped_attention(query, keys, values, groups, scale):
    """One query a row (``[n, heads, 1, dim]``, rows in slots ``0..n-1``) over the cached
    ``keys``/``values`` (``[slots, heads, columns, dim]``), each group of ``attention_groups``
    over its own columns; ``[n, heads * dim]``."""
    import torch
    from torch.nn.functional import scaled_dot_product_attention as sdpa

    outputs = [sdpa(query[part], keys[part, :, :width], values[part, :, :width], attn_mask=mask,
                    scale=scale) for part, width, mask in groups]
    return (outputs[0] if len(outputs) == 1 else torch.cat(outputs)).reshape(query.shape[0], -1)


class CausalRunner:
    """The forward pass of a ``GPT2LMHeadModel`` (see the module docstring)."""

    seq2seq = False

    def __init__(self, model) -> None:
        from dialogpt.decoding.engine.kv import SlotCache

        config = model.config
        if getattr(config, "reorder_and_upcast_attn", False):
            raise ValueError("reorder_and_upcast_attn GPT-2 models are not supported")
        self.model = model
        self.body = model.transformer
        self.heads = config.n_head
        self.head_dim = config.n_embd // config.n_head
        self.positions = config.n_positions
        self.scales = []
        for index in range(config.n_layer):
            scale = self.head_dim ** -0.5 if config.scale_attn_weights else 1.0
            if config.scale_attn_by_inverse_layer_idx:
                scale /= index + 1
            self.scales.append(scale)
        self.fused_gelu = config.activation_function == "gelu_new"
        self.output = OutputLayer(model)
        self.packed = {id(module): PackedLinear(module) for block in self.body.h
                       for module in (block.attn.c_attn, block.attn.c_proj, block.mlp.c_fc,
                                      block.mlp.c_proj)
                       if type(module).__name__ == "Conv1D" and PackedLinear.available(module)}
        weight = self.body.wte.weight
        self.device = weight.device
        self.cache = SlotCache(config.n_layer, self.heads, self.head_dim, weight.dtype,
                               weight.device)

    def logits(self, hidden):
        return self.output(hidden)

    def forward(self, tokens, lens, chunks: Sequence[tuple[int, int, Sequence[int]]]):
        """Hidden states of the decoding rows ``[n, d]`` (input ``tokens`` at columns ``lens``,
        both ``[n]`` tensors, slots ``0..n-1``), and of each chunk ``(slot, start, ids)``
        (``[len(ids), d]``), after the final layer norm."""
        import torch

        body, device = self.body, self.device
        n = int(tokens.shape[0])
        pieces, positions = [], []
        if n:
            pieces.append(tokens)
            positions.append(lens)
        for _slot, start, ids in chunks:
            pieces.append(torch.tensor(list(ids), dtype=torch.long, device=device))
            positions.append(torch.arange(start, start + len(ids), device=device))
        x = body.wte(torch.cat(pieces)) + body.wpe(torch.cat(positions))
        decode = None
        if n:
            decode = (torch.arange(n, device=device), attention_groups(lens))
        for index, block in enumerate(body.h):
            attn = block.attn
            q, k, v = self._linear(attn.c_attn, block.ln_1(x)).split(x.shape[-1], dim=-1)
            out = self._attention(index, q, k, v, lens, decode, chunks)
            x = x + self._linear(attn.c_proj, out)
            x = x + self._mlp(block.mlp, block.ln_2(x))
        x = body.ln_f(x)
        hidden = [x[n + sum(len(c[2]) for c in chunks[:i]):][:len(chunks[i][2])]
                  for i in range(len(chunks))]
        return x[:n], hidden

    def _linear(self, module, x):
        """``module(x)``; packed (``PackedLinear``) for more than ``FEW_ROWS`` rows (at one
        row MKL's matrix-vector product on the ``Conv1D`` layout is as fast or faster)."""
        packed = self.packed.get(id(module))
        return module(x) if packed is None or x.shape[0] <= FEW_ROWS else packed(x)

    def _mlp(self, mlp, x):
        """GPT-2's MLP, its ``gelu_new`` computed by ``gelu_tanh``."""
        if not self.fused_gelu:
            return mlp(x)
        return self._linear(mlp.c_proj, gelu_tanh(self._linear(mlp.c_fc, x)))

    def _attention(self, index, q, k, v, lens, decode, chunks):
        """Write this layer's new keys/values into the cache and attend; ``[tokens, d]``."""
        import torch
        from torch.nn.functional import scaled_dot_product_attention as sdpa

        heads, dim = self.heads, self.head_dim
        keys, values = self.cache.keys[index], self.cache.values[index]
        scale = self.scales[index]
        outputs = []
        n = 0
        if decode is not None:
            rows, groups = decode
            n = int(rows.shape[0])
            keys[rows, :, lens] = k[:n].view(n, heads, dim)
            values[rows, :, lens] = v[:n].view(n, heads, dim)
            outputs.append(grouped_attention(q[:n].view(n, heads, 1, dim), keys, values, groups,
                                             scale))
        offset = n
        for slot, start, ids in chunks:
            length = len(ids)
            end = start + length
            part = slice(offset, offset + length)
            keys[slot, :, start:end] = k[part].view(length, heads, dim).transpose(0, 1)
            values[slot, :, start:end] = v[part].view(length, heads, dim).transpose(0, 1)
            query = q[part].view(length, heads, dim).transpose(0, 1)[None]
            if start == 0:
                o = sdpa(query, keys[slot:slot + 1, :, :end], values[slot:slot + 1, :, :end],
                         is_causal=True, scale=scale)
            else:
                columns = torch.arange(end, device=q.device)
                mask = columns[None, :] <= (start + torch.arange(length, device=q.device))[:, None]
                o = sdpa(query, keys[slot:slot + 1, :, :end], values[slot:slot + 1, :, :end],
                         attn_mask=mask, scale=scale)
            outputs.append(o[0].transpose(0, 1).reshape(length, heads * dim))
            offset += length
        return outputs[0] if len(outputs) == 1 else torch.cat(outputs)
