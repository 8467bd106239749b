"""``Engine``: continuous batching over one model (see the package docstring for the API).

Each ``step``:
1. admits waiting requests (oldest first) while the batch has rows free and the key/value cache
   stays within ``cache_tokens`` (rows x allocated width); each gets its own cache slot;
2. runs one forward: every decoding row's next token, plus chunks of the newcomers' prompts of
   at most ``prefill_tokens`` tokens in all (causal models; a seq2seq model's newcomers are
   encoded instead, up to ``encode_tokens`` source tokens a step, and start decoding from the
   decoder start token in the same step), so the running rows keep stepping while long prompts
   are read;
3. chooses each row's token (``sampling.choose``), emits a ``TokenEvent`` for it, and retires
   the rows that ended (EOS, a stop token or string, ``max_new_tokens``, the model's positions)
   or were aborted, freeing their slots for the next step's newcomers.
"""

from __future__ import annotations

from collections import deque
from typing import Callable, Iterable

from dialogpt.decoding.engine.api import Completion, Request, TokenEvent

MAX_ROWS = 64
PREFILL_TOKENS = 256
"""Prompt tokens per step (measured on a 2-core EPYC: chunks of about 256 tokens keep the
projections efficient while the decoding rows keep their pace)."""
ENCODE_TOKENS = 2048
"""Seq2seq: source tokens encoded per step (packed, no padding). A source cannot be encoded in
chunks, and every step with newcomers also runs the decoder over the running rows: encoding 64
GODEL sources of ~215 tokens one per step made 95 decoder steps of 32 tokens' work (profile),
so newcomers are encoded in batches this large."""
CACHE_TOKENS = 16384
"""Rows x allocated positions of the key/value cache (1.2 GB for GPT-2 117M)."""


def make_runner(model):
    """The forward pass for ``model``: GPT-2 (causal) or T5 (seq2seq); ValueError otherwise."""
    model_type = model.config.model_type
    if model_type == "gpt2":
        from dialogpt.decoding.engine.causal import CausalRunner

        return CausalRunner(model)
    if model_type in ("t5", "mt5"):
        from dialogpt.decoding.engine.seq2seq import Seq2SeqRunner

        return Seq2SeqRunner(model)
    raise ValueError(f"the decoding engine runs GPT-2 and T5 models, not {model_type!r}")


def supports(model) -> bool:
    return model.config.model_type in ("gpt2", "t5", "mt5") and not getattr(
        model.config, "reorder_and_upcast_attn", False)


class _Row:
    """One admitted request's decoding state."""

    def __init__(self, request: Request, step: int, eos_id: int, tokenizer, device) -> None:
        import torch

        from dialogpt.decoding.engine.text import TextTracker

        self.request = request
        self.params = params = request.params
        self.prompt = list(request.prompt_ids)
        self.output: list[int] = []
        self.stop_ids = (eos_id, *params.stop_token_ids)
        self.submitted = step
        self.slot = -1
        self.filled = 0
        """Cache columns written (the next input goes to this column)."""
        self.next_input = None
        self.source_len = 0
        self.decoder_start: int | None = None
        """Seq2seq: the decoder start token (the processors see it before the output)."""
        self.logprobs = [] if params.logprobs is not None else None
        self.prompt_logprobs = [None] if params.prompt_logprobs is not None else None
        self.text = TextTracker(tokenizer, params.stop) if tokenizer is not None else None
        self.generator = None
        if params.sample:
            seed = params.seed
            if seed is None:
                seed = int(torch.randint(2 ** 62, (1,)))
            self.generator = torch.Generator(device=device).manual_seed(seed)

    @property
    def sequence(self) -> list[int]:
        """What the repetition processors see: prompt + output (decoder ids for seq2seq)."""
        if self.decoder_start is not None:
            return [self.decoder_start, *self.output]
        return self.prompt + self.output

    @property
    def request_id(self) -> str:
        return self.request.request_id


class Engine:
    """Continuous batching over ``model`` (GPT-2 or T5), see the module docstring.

    ``tokenizer``: for text and stop strings (None: token ids only). ``stream_text``: decode the
    text after every token (for streaming); off, text is decoded once at the end unless a request
    has stop strings. Not thread-safe: ``EngineLoop`` runs one from a background thread.
    """

    def __init__(self, model, tokenizer=None, *, eos_id: int | None = None,
                 max_rows: int = MAX_ROWS, prefill_tokens: int = PREFILL_TOKENS,
                 encode_tokens: int = ENCODE_TOKENS, cache_tokens: int = CACHE_TOKENS,
                 stream_text: bool = False) -> None:
        if min(max_rows, prefill_tokens, encode_tokens, cache_tokens) < 1:
            raise ValueError("max_rows, prefill_tokens, encode_tokens and cache_tokens must be "
                             ">= 1")
        self.model = model.eval()
        self.runner = make_runner(model)
        self.tokenizer = tokenizer
        if eos_id is None:
            eos_id = tokenizer.eos_token_id if tokenizer is not None else model.config.eos_token_id
        self.eos_id = eos_id
        self.max_rows, self.prefill_tokens = max_rows, prefill_tokens
        self.encode_tokens = encode_tokens
        self.cache_tokens, self.stream_text = cache_tokens, stream_text
        self.waiting: deque[_Row] = deque()
        self.prefilling: list[_Row] = []
        self.running: list[_Row] = []
        """Decoding rows; ``running[i]`` owns cache slot ``i``."""
        self.free_slots: list[int] = []
        self.steps = 0

    # -- requests ------------------------------------------------------------------------------

    def add(self, request: Request) -> None:
        """Queue ``request``; it joins the batch at the next step with room. ValueError for a
        request the model cannot decode."""
        self.check(request)
        self.waiting.append(_Row(request, self.steps, self.eos_id, self.tokenizer,
                                 self.runner.device))

    def check(self, request: Request) -> None:
        """ValueError naming why the model cannot decode ``request`` (thread-safe)."""
        prompt, params = request.prompt_ids, request.params
        if not prompt:
            raise ValueError("the prompt has no tokens")
        positions = self.runner.positions
        if positions is not None and len(prompt) + params.max_new_tokens > positions:
            raise ValueError(f"prompt ({len(prompt)} tokens) + max_new_tokens "
                             f"({params.max_new_tokens}) exceed the model's {positions} positions")
        if self.runner.seq2seq and params.prompt_logprobs is not None:
            raise ValueError("prompt log-probabilities need a causal model (a seq2seq model's "
                             "source is encoded, not predicted)")
        if params.stop and self.tokenizer is None:
            raise ValueError("stop strings need the engine's tokenizer")

    def abort(self, request_id: str) -> TokenEvent | None:
        """Cancel a request wherever it is; its slot is free for the next step. Returns its
        final event (None if it is not here)."""
        for group in (self.waiting, self.prefilling):
            for row in group:
                if row.request_id == request_id:
                    group.remove(row)
                    if row.slot >= 0:
                        self.free_slots.append(row.slot)
                    return self._finish(row, "abort", None)
        for row in self.running:
            if row.request_id == request_id:
                self._retire([row])
                return self._finish(row, "abort", None)
        return None

    def has_work(self) -> bool:
        return bool(self.waiting or self.prefilling or self.running)

    @property
    def occupied(self) -> int:
        return len(self.running) + len(self.prefilling)

    # -- one step ------------------------------------------------------------------------------

    def step(self) -> list[TokenEvent]:
        """Admit, run one forward, choose tokens; every event of this step."""
        import torch

        self.steps += 1
        self._admit()
        events: list[TokenEvent] = []
        with torch.inference_mode():
            if self.runner.seq2seq:
                self._encode_newcomers()
            decoding = list(self.running)
            chunks = self._chunks()
            hidden, chunk_hidden = self._forward(decoding, chunks)
            for row in decoding:
                row.filled += 1
            chosen_rows, chosen_hidden = list(decoding), [hidden] if decoding else []
            joining = []
            for (row, start, ids), states in zip(chunks, chunk_hidden):
                if row.prompt_logprobs is not None:
                    from dialogpt.decoding.engine.sampling import prompt_logprobs

                    row.prompt_logprobs.extend(prompt_logprobs(
                        self.runner.logits(states), row.prompt, start,
                        row.params.prompt_logprobs))
                row.filled = start + len(ids)
                if row.filled == len(row.prompt):
                    joining.append(row)
                    if row.params.max_new_tokens > 0:
                        chosen_rows.append(row)
                        chosen_hidden.append(states[-1:])
            finished = self._choose(chosen_rows, chosen_hidden, events)
            for row in joining:
                self.prefilling.remove(row)
                if row.params.max_new_tokens == 0:
                    self.free_slots.append(row.slot)
                    row.slot = -1
                    events.append(self._finish(row, "length", None))
                elif row not in finished:
                    self._join(row)
                else:
                    self.free_slots.append(row.slot)
                    row.slot = -1
            self._retire([row for row in finished if row.slot >= 0 and row in self.running])
        return events

    def _forward(self, decoding, chunks):
        import torch

        device = self.runner.device
        tokens = torch.tensor([row.next_input for row in decoding], dtype=torch.long,
                              device=device)
        lens = torch.tensor([row.filled for row in decoding], dtype=torch.long, device=device)
        if self.runner.seq2seq:
            if not decoding:
                return None, []
            sources = torch.tensor([row.source_len for row in decoding], dtype=torch.long,
                                   device=device)
            return self.runner.forward(tokens, lens, sources), []
        if not decoding and not chunks:
            return None, []
        hidden, chunk_hidden = self.runner.forward(
            tokens, lens, [(row.slot, start, ids) for row, start, ids in chunks])
        return hidden, chunk_hidden

    def _choose(self, rows, hidden, events) -> list[_Row]:
        """Pick every row's token, emit its event; the rows that ended."""
        import torch

        from dialogpt.decoding.engine.sampling import choose

        if not rows:
            return []
        logits = self.runner.logits(torch.cat(hidden) if len(hidden) > 1 else hidden[0])
        tokens, logprobs = choose(logits, rows)
        finished = []
        for row, token, logprob in zip(rows, tokens, logprobs):
            event = self._advance(row, token, logprob)
            events.append(event)
            if event.finished:
                finished.append(row)
        return finished

    def _advance(self, row: _Row, token: int, logprob) -> TokenEvent:
        """Record ``token`` for ``row``; its event (finishing when the row ended)."""
        index = len(row.output)
        if row.logprobs is not None:
            row.logprobs.append(logprob)
        if token in row.stop_ids:
            return self._finish(row, "eos" if token == self.eos_id else "stop", token, index)
        row.output.append(token)
        text, stopped = "", False
        if row.text is not None and (self.stream_text or row.text.stops):
            text, stopped = row.text.update(row.output)
        if stopped:
            return self._finish(row, "stop", token, index, text)
        positions = self.runner.positions
        if len(row.output) >= row.params.max_new_tokens or (
                positions is not None and len(row.prompt) + len(row.output) >= positions):
            return self._finish(row, "length", token, index, text)
        row.next_input = token
        return TokenEvent(row.request_id, token, index, text, logprob)

    def _finish(self, row: _Row, reason: str, token: int | None, index: int | None = None,
                text: str = "") -> TokenEvent:
        if row.text is not None:
            if not (self.stream_text or row.text.stops):
                row.text.update(row.output)
            text += row.text.finish()
        completion = Completion(
            row.request_id, row.prompt, row.output,
            row.text.text if row.text is not None else "", reason, row.logprobs,
            row.prompt_logprobs, row.submitted, self.steps)
        if row.logprobs is not None and token is None and len(row.logprobs) > len(row.output):
            row.logprobs.pop()
        return TokenEvent(row.request_id, token, len(row.output) if index is None else index,
                          text, row.logprobs[-1] if row.logprobs and token is not None else None,
                          True, reason, completion)

    # -- slots ---------------------------------------------------------------------------------

    def _caches(self):
        return [self.runner.cache] + ([self.runner.cross] if self.runner.seq2seq else [])

    def _width(self, row: _Row) -> int:
        if self.runner.seq2seq:
            return row.params.max_new_tokens + 1
        return len(row.prompt) + max(row.params.max_new_tokens, 1)

    def _admit(self) -> None:
        """Move waiting requests into free slots: as many as the rows and the cache budget
        allow, oldest first; the cache grows once for all of them."""
        import heapq
        from itertools import islice

        cache = self.runner.cache
        width, admitted = cache.width, []
        for row in islice(self.waiting, max(self.max_rows - self.occupied, 0)):
            wider = max(width, self._width(row))
            rows = self.occupied + len(admitted)
            if rows and (rows + 1) * wider > self.cache_tokens:
                break
            width = wider
            admitted.append(row)
        if not admitted:
            return
        total, old = self.occupied + len(admitted), cache.slots
        slots = old if total <= old else min(self.max_rows, max(total, 2 * old))
        cache.reserve(slots, width)
        self.free_slots.extend(range(old, cache.slots))
        heapq.heapify(self.free_slots)
        if self.runner.seq2seq:
            self.runner.cross.reserve(cache.slots, max(len(row.prompt) for row in admitted))
        for row in admitted:
            self.waiting.popleft()
            row.slot = heapq.heappop(self.free_slots)
            self.prefilling.append(row)

    def _join(self, row: _Row) -> None:
        """Move a row that finished its prompt to slot ``len(running)`` and start decoding it."""
        import heapq

        target = len(self.running)
        if row.slot != target:
            occupant = next((other for other in self.prefilling if other.slot == target), None)
            for cache in self._caches():
                if occupant is not None:
                    cache.swap(row.slot, target, cache.width)
                else:
                    cache.move(row.slot, target, cache.width)
            if occupant is not None:
                occupant.slot = row.slot
            else:
                self.free_slots.remove(target)
                self.free_slots.append(row.slot)
                heapq.heapify(self.free_slots)
            row.slot = target
        self.running.append(row)

    def _retire(self, rows) -> None:
        """Take decoding rows out, moving the last row into each freed slot."""
        import heapq

        for row in rows:
            last = self.running[-1]
            if last is not row:
                for cache in self._caches():
                    cache.move(last.slot, row.slot, cache.width)
                self.running[row.slot] = last
                last.slot = row.slot
            self.running.pop()
            heapq.heappush(self.free_slots, len(self.running))
            row.slot = -1

    # -- newcomers -----------------------------------------------------------------------------

    def _chunks(self) -> list[tuple[_Row, int, list[int]]]:
        """This step's prompt chunks (causal models): oldest newcomers first, within budget."""
        if self.runner.seq2seq:
            return []
        budget, chunks = self.prefill_tokens, []
        for row in self.prefilling:
            take = min(len(row.prompt) - row.filled, budget)
            if take <= 0:
                break
            chunks.append((row, row.filled, row.prompt[row.filled:row.filled + take]))
            budget -= take
        return chunks

    def _encode_newcomers(self) -> None:
        """Encode newcomers' sources (within ``encode_tokens``) and start them decoding."""
        budget, batch = self.encode_tokens, []
        for row in self.prefilling:
            if batch and len(row.prompt) > budget:
                break
            batch.append(row)
            budget -= len(row.prompt)
        if not batch:
            return
        self.runner.encode([row.prompt for row in batch], [row.slot for row in batch])
        for row in batch:
            self.prefilling.remove(row)
            row.source_len = len(row.prompt)
            row.next_input, row.filled = self.runner.start_id, 0
            row.decoder_start = self.runner.start_id
            self._join(row)

    # -- batch use -----------------------------------------------------------------------------

    def run(self, requests: Iterable[Request],
            on_event: Callable[[TokenEvent], None] | None = None) -> list[Completion]:
        """Decode ``requests`` (with whatever else was added) to the end; their completions in
        order. ``on_event`` sees every event as it happens."""
        requests = list(requests)
        for request in requests:
            self.add(request)
        done: dict[str, Completion] = {}
        try:
            while self.has_work():
                for event in self.step():
                    if on_event is not None:
                        on_event(event)
                    if event.finished:
                        done[event.request_id] = event.completion
        except BaseException:  # e.g. Ctrl-C in interact.py: the next call starts clean
            for request in requests:
                self.abort(request.request_id)
            raise
        finally:
            self.release()
        return [done[request.request_id] for request in requests]

    def release(self) -> None:
        """Free the caches' memory when nothing is running (they are reallocated on demand)."""
        if not self.has_work():
            for cache in self._caches():
                cache.release()
            self.free_slots = []
