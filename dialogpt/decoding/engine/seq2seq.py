"""T5's decoder over the engine's slot caches (plain torch on the model's own modules).

A newcomer's source is encoded once (``encode``, newcomers of one step together); each decoder
layer's cross-attention keys and values of it are written into the request's slot
of a second ``SlotCache`` and reused at every step: the encoder output is cached per request, and
never re-padded when others join or leave. Decoding steps then run every row's one new token:
self-attention over the row's own columns with T5's relative position bias (bucketed per row, as
its query positions differ), cross-attention over its own source length (rows in groups of
``causal.DECODE_GROUP`` slots, each group reading its longest source's columns).

The encoder runs token-packed, as the causal runner's prompt chunks do: the layer norms,
projections and feed-forward see the newcomers' ``sum(lengths)`` tokens without padding, and only
self-attention is per source (with T5's bidirectional relative position bias of its length, which
is what the padded encoder computes at the unpadded positions). Padding a batch of GODEL sources
of 20-120 tokens to the longest cost about as much again as the tokens themselves. float16
models (whose T5 blocks clamp overflowing activations) keep Hugging Face's padded encoder.
"""

from __future__ import annotations

from typing import Sequence

from dialogpt.decoding.engine.causal import OutputLayer, attention_groups, grouped_attention


class Seq2SeqRunner:
    """The decoder of a ``T5ForConditionalGeneration`` (see the module docstring)."""

    seq2seq = True

    def __init__(self, model) -> None:
        from dialogpt.decoding.engine.kv import SlotCache

        config = model.config
        self.model = model
        self.decoder = model.get_decoder()
        self.encoder = model.get_encoder()
        self.heads, self.head_dim = config.num_heads, config.d_kv
        self.positions = None
        start = config.decoder_start_token_id
        self.start_id = config.pad_token_id if start is None else start
        self.pad_id = config.pad_token_id
        self.bias = self.decoder.block[0].layer[0].SelfAttention
        self.output_scale = (config.d_model ** -0.5
                             if getattr(config, "scale_decoder_outputs",
                                        config.tie_word_embeddings) else None)
        self.output = OutputLayer(model)
        weight = self.decoder.embed_tokens.weight
        self.device = weight.device
        layers = len(self.decoder.block)
        self.cache = SlotCache(layers, self.heads, self.head_dim, weight.dtype, weight.device)
        self.cross = SlotCache(layers, self.heads, self.head_dim, weight.dtype, weight.device)

    def logits(self, hidden):
        if self.output_scale is not None:
            hidden = hidden * self.output_scale
        return self.output(hidden)

    def encode(self, sources: Sequence[Sequence[int]], slots: Sequence[int]) -> None:
        """Encode ``sources`` together and store each one's cross-attention keys/values in its
        slot (the cross cache must already hold the slots and the longest source)."""
        import torch

        if self.encoder.embed_tokens.weight.dtype == torch.float16:
            self._encode_padded(sources, slots)
            return
        lengths = [len(ids) for ids in sources]
        ids = torch.tensor([t for source in sources for t in source], dtype=torch.long,
                           device=self.device)
        states = self._encode_packed(ids, lengths)
        heads, dim, offset = self.heads, self.head_dim, 0
        spans = []
        for length in lengths:
            spans.append(slice(offset, offset + length))
            offset += length
        for index, block in enumerate(self.decoder.block):
            attention = block.layer[1].EncDecAttention
            keys, values = attention.k(states), attention.v(states)
            for slot, span, length in zip(slots, spans, lengths):
                self.cross.keys[index, slot, :, :length] = \
                    keys[span].view(length, heads, dim).transpose(0, 1)
                self.cross.values[index, slot, :, :length] = \
                    values[span].view(length, heads, dim).transpose(0, 1)

    def _encode_packed(self, ids, lengths: Sequence[int]):
        """The encoder's last hidden states ``[sum(lengths), d]`` of the packed ``ids``."""
        import torch
        from torch.nn.functional import scaled_dot_product_attention as sdpa

        encoder, heads, dim = self.encoder, self.heads, self.head_dim
        first = encoder.block[0].layer[0].SelfAttention
        biases = {length: first.compute_bias(length, length, device=ids.device).to(
            encoder.embed_tokens.weight.dtype) for length in set(lengths)}
        x = encoder.embed_tokens(ids)
        for block in encoder.block:
            own = block.layer[0]
            attention = own.SelfAttention
            h = own.layer_norm(x)
            q, k, v = attention.q(h), attention.k(h), attention.v(h)
            outputs, offset = [], 0
            for length in lengths:
                span = slice(offset, offset + length)
                o = sdpa(*(t[span].view(length, heads, dim).transpose(0, 1)[None]
                           for t in (q, k, v)), attn_mask=biases[length],
                         scale=getattr(attention, "scaling", 1.0))
                outputs.append(o[0].transpose(0, 1).reshape(length, heads * dim))
                offset += length
            x = x + attention.o(outputs[0] if len(outputs) == 1 else torch.cat(outputs))
            x = block.layer[-1](x)
        return encoder.final_layer_norm(x)

    def _encode_padded(self, sources: Sequence[Sequence[int]], slots: Sequence[int]) -> None:
        import torch

        width = max(len(ids) for ids in sources)
        ids = torch.full((len(sources), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(sources), width), dtype=torch.long)
        for row, source in enumerate(sources):
            ids[row, :len(source)] = torch.tensor(list(source), dtype=torch.long)
            mask[row, :len(source)] = 1
        states = self.encoder(input_ids=ids.to(self.device),
                              attention_mask=mask.to(self.device)).last_hidden_state
        rows, heads, dim = len(sources), self.heads, self.head_dim
        for index, block in enumerate(self.decoder.block):
            attention = block.layer[1].EncDecAttention
            keys = attention.k(states).view(rows, width, heads, dim).transpose(1, 2)
            values = attention.v(states).view(rows, width, heads, dim).transpose(1, 2)
            for row, (slot, source) in enumerate(zip(slots, sources)):
                self.cross.keys[index, slot, :, :len(source)] = keys[row, :, :len(source)]
                self.cross.values[index, slot, :, :len(source)] = values[row, :, :len(source)]

    def forward(self, tokens, lens, source_lens):
        """Hidden states ``[n, d]`` of the decoding rows (slots ``0..n-1``): input ``tokens`` at
        decoder columns ``lens``, over sources of ``source_lens`` tokens (all ``[n]``)."""
        import torch
        from torch.nn.functional import scaled_dot_product_attention as sdpa

        n, heads, dim, device = int(tokens.shape[0]), self.heads, self.head_dim, self.device
        rows = torch.arange(n, device=device)
        width = int(lens.max()) + 1
        columns = torch.arange(width, device=device)
        relative = columns[None, :] - lens[:, None]
        buckets = self.bias._relative_position_bucket(
            relative, bidirectional=False, num_buckets=self.bias.relative_attention_num_buckets,
            max_distance=self.bias.relative_attention_max_distance)
        bias = self.bias.relative_attention_bias(buckets).permute(0, 2, 1)[:, :, None, :]
        bias = bias.masked_fill((relative > 0)[:, None, None, :], float("-inf"))
        cross_groups = attention_groups(source_lens - 1)  # each row reads its source's columns
        x = self.decoder.embed_tokens(tokens)
        for index, block in enumerate(self.decoder.block):
            own, cross = block.layer[0], block.layer[1]
            attention = own.SelfAttention
            h = own.layer_norm(x)
            keys, values = self.cache.keys[index], self.cache.values[index]
            keys[rows, :, lens] = attention.k(h).view(n, heads, dim)
            values[rows, :, lens] = attention.v(h).view(n, heads, dim)
            o = sdpa(attention.q(h).view(n, heads, 1, dim), keys[:n, :, :width],
                     values[:n, :, :width], attn_mask=bias.to(x.dtype),
                     scale=getattr(attention, "scaling", 1.0))
            x = x + attention.o(o.reshape(n, heads * dim))
            attention = cross.EncDecAttention
            h = cross.layer_norm(x)
            o = grouped_attention(attention.q(h).view(n, heads, 1, dim), self.cross.keys[index],
                                  self.cross.values[index], cross_groups,
                                  getattr(attention, "scaling", 1.0))
            x = x + attention.o(o)
            x = block.layer[2](x)
        return self.decoder.final_layer_norm(x)
