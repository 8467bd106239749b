"""``SlotCache``: the engine's key/value memory, one slot (row) per running request.

Keys and values of every layer live in two tensors ``[layers, slots, heads, width, head_dim]``.
A request owns one slot from admission to its end; its tokens fill columns ``0, 1, ...`` of that
slot (left-aligned, no padding), so a request joining the batch writes only its own slot, and one
leaving frees only its own. The engine keeps the decoding rows in slots ``0..n-1`` (moving the
last row into a freed slot: one row copied, never the batch), so a decoding step reads the cache
as a view, without gathering rows. Slots (the engine doubles them) and width grow, copying once, when a request
needs more than is allocated; they never shrink while rows are running.
"""

from __future__ import annotations

WIDTH_STEP = 64
"""Widths are allocated in multiples of this many positions."""


class SlotCache:
    def __init__(self, layers: int, heads: int, head_dim: int, dtype, device) -> None:
        self.shape = (layers, heads, head_dim)
        self.dtype, self.device = dtype, device
        self.keys = self.values = None
        self.slots = self.width = 0

    def reserve(self, slots: int, width: int) -> None:
        """At least ``slots`` rows of at least ``width`` positions (existing rows are kept)."""
        import torch

        if slots <= self.slots and width <= self.width:
            return
        new_slots = max(slots, self.slots)
        new_width = max(self.width, -(-width // WIDTH_STEP) * WIDTH_STEP)
        layers, heads, dim = self.shape
        shape = (layers, new_slots, heads, new_width, dim)
        keys = torch.zeros(shape, dtype=self.dtype, device=self.device)
        values = torch.zeros(shape, dtype=self.dtype, device=self.device)
        if self.keys is not None:
            keys[:, :self.slots, :, :self.width] = self.keys
            values[:, :self.slots, :, :self.width] = self.values
        self.keys, self.values = keys, values
        self.slots, self.width = new_slots, new_width

    def move(self, source: int, target: int, length: int) -> None:
        """Copy the first ``length`` positions of slot ``source`` into slot ``target``."""
        self.keys[:, target, :, :length] = self.keys[:, source, :, :length]
        self.values[:, target, :, :length] = self.values[:, source, :, :length]

    def swap(self, first: int, second: int, length: int) -> None:
        for tensor in (self.keys, self.values):
            saved = tensor[:, first, :, :length].clone()
            tensor[:, first, :, :length] = tensor[:, second, :, :length]
            tensor[:, second, :, :length] = saved

    def release(self) -> None:
        """Free the memory (no rows left)."""
        self.keys = self.values = None
        self.slots = self.width = 0
