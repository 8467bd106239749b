"""``Decoder``: histories in, responses out, batched, with optional reranking.

One ``Decoder`` serves the chat (one history at a time), batch decoding (many) and the HTTP
server, for both model kinds: causal LMs (DialoGPT) and encoder-decoders (GODEL, T5/BART). Each
call:
1. windows every history exactly as training built features: causal, the turns each followed by
   EOS (``context.build_context``); seq2seq, one source string from the instruction, knowledge
   and turns by the model's template, cut by ``grounding.fit_source``'s policy
   (``grounded_source.source_window``);
2. decodes them with the decoding engine (``dialogpt.decoding.engine``: continuous batching over
   a slot KV cache, greedy and sampling with every processor, GPT-2 and T5 models), whose greedy
   tokens are Hugging Face ``generate``'s. Beam search, other architectures, and callers passing
   their own ``GenerationConfig`` run ``generate`` on a padded batch instead. Causal: left padding
   (pad = EOS, attention mask 0); GPT-2's learned absolute positions must start at 0 at each row's
   first real token, and ``generate`` derives ``position_ids`` from the attention mask
   (``cumsum - 1``). Seq2seq: right-padded sources (the tokenizer's pad id, mask 0) for the
   encoder, whose outputs the decoder's cross-attention reuses at every step. The tests check
   both paths by comparing batched greedy output with each context decoded alone;
3. cuts every output at its first EOS (finished rows are padded by ``generate``), after dropping
   an encoder-decoder's decoder start token;
4. with a ``Ranker`` (causal models only: MMI needs a backward DialoGPT): generates
   ``num_candidates`` per context, scores them, and chooses.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Callable, Sequence

from dialogpt.cli import UserError
from dialogpt.decoding.context import (ContextWindow, build_context, context_token_budget,
                                       encode_turn)
from dialogpt.decoding.options import DecodingOptions, OptionError, generation_kwargs
from dialogpt.decoding.rerank import Ranker, choose_index

MMI_SEQ2SEQ_ERROR = ("reranking ({mmi_model}, {ranker}) works with causal DialoGPT models only "
                     "(MMI scores candidates with a backward DialoGPT); decode a seq2seq (GODEL) "
                     "model without {mmi_model} and {ranker}")
"""An ``OptionError`` template (fields in braces)."""
KNOWLEDGE_CAUSAL_ERROR = ("knowledge and instructions need a seq2seq (GODEL) model: a causal "
                          "DialoGPT model reads only the dialog turns")


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
    """Responses for histories with one model (see the module docstring).

    ``sources`` (seq2seq models only): the template, the default instruction and knowledge, and
    the source token limit (``max_context_tokens`` of ``options``, when set, wins); default
    ``SourceSettings()``: the card template, no instruction or knowledge, 512 tokens.
    """

    def __init__(self, model, tokenizer, options: DecodingOptions,
                 ranker: Ranker | None = None, sources=None) -> None:
        from transformers import GenerationConfig

        from dialogpt.decoding.grounded_source import SourceSettings
        from dialogpt.modeling import is_seq2seq

        self.model = model.eval()
        self.tokenizer = tokenizer
        self.options = options
        self.ranker = ranker
        self.seq2seq = is_seq2seq(model)
        self.eos_id = tokenizer.eos_token_id
        self.pad_id = tokenizer.pad_token_id if self.seq2seq else self.eos_id
        start_id = None
        if self.seq2seq:
            if ranker is not None:
                raise OptionError(MMI_SEQ2SEQ_ERROR)
            self.sources = sources or SourceSettings()
            self.positions = None  # relative positions: no hard limit; the source is capped
            self.context_budget = options.max_context_tokens or self.sources.max_source_len
            start_id = getattr(model.config, "decoder_start_token_id", None)
            start_id = self.pad_id if start_id is None else start_id
        else:
            self.sources = None
            self.positions = model_positions(model)
            try:
                self.context_budget = context_token_budget(self.positions, options.max_length,
                                                           options.max_context_tokens)
            except ValueError as exc:
                detail = str(exc).replace("{", "{{").replace("}", "}}")
                raise OptionError(f"{{max_length}} {options.max_length}: {detail}") from exc
        self.candidates_per_context = options.candidate_count(ranker is not None)
        self.generation_config = GenerationConfig(**generation_kwargs(
            options, self.candidates_per_context, self.eos_id, self.pad_id, start_id))
        self.engine = None
        """The decoding engine (None: beam search, or a model it does not run)."""
        from dialogpt.decoding.engine import supports

        if options.decoding != "beam" and supports(model):
            from dialogpt.decoding.engine import Engine, SamplingParams

            self.engine = Engine(model, tokenizer, eos_id=self.eos_id)
            self.params = SamplingParams.from_options(options)
        self.rng = random.Random(options.seed if options.seed >= 0 else None)

    @property
    def device(self):
        return next(self.model.parameters()).device

    def encode_turn(self, text: str) -> list[int]:
        return encode_turn(self.tokenizer, text)

    def window(self, history: Sequence[str], knowledge: str | None = None,
               instruction: str | None = None) -> ContextWindow:
        """The context for ``history`` (turn texts, oldest first; the last is answered).

        Seq2seq: ``knowledge`` and ``instruction`` (None = the ``sources`` defaults) join the
        turns in the source. A causal model refuses non-empty ones (``UserError``).
        """
        if not self.seq2seq:
            if knowledge or instruction:
                raise UserError(KNOWLEDGE_CAUSAL_ERROR)
            return build_context([self.encode_turn(turn) for turn in history], self.eos_id,
                                 self.context_budget, self.options.max_history)
        from dialogpt.decoding.grounded_source import source_window

        return source_window(
            self.tokenizer, history,
            self.sources.knowledge if knowledge is None else knowledge,
            self.sources.instruction if instruction is None else instruction,
            self.sources.template, self.context_budget, self.options.max_history)

    @property
    def uses_engine(self) -> bool:
        return self.engine is not None

    def respond(self, histories: Sequence[Sequence[str]],
                knowledge: Sequence[str | None] | None = None,
                instructions: Sequence[str | None] | None = None,
                progress: Callable[[int], None] | None = None) -> list[Response]:
        """One response per history, in order; all histories are decoded as one batch.

        ``knowledge`` / ``instructions``: one entry per history (None = the default), seq2seq
        models only. A history without turns gets an empty response without running the model.
        ``progress(k)``: called as the engine finishes contexts (``k`` of them at a time).
        """
        knowledge = knowledge or [None] * len(histories)
        instructions = instructions or [None] * len(histories)
        if len(knowledge) != len(histories) or len(instructions) != len(histories):
            raise ValueError("knowledge and instructions need one entry per history")
        windows = [self.window(history, kn, instruction)
                   for history, kn, instruction in zip(histories, knowledge, instructions)]
        active = [i for i, window in enumerate(windows) if window.ids]
        generated = self.generate_ids([windows[i].ids for i in active], progress=progress)
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

    def generate_ids(self, contexts: Sequence[Sequence[int]], generation_config=None,
                     progress: Callable[[int], None] | None = None,
                     **generate_kwargs) -> list[list[list[int]]]:
        """Token ids of ``candidates_per_context`` continuations of each context, EOS cut off.

        ``generation_config`` (default: the decoder's own) and ``generate_kwargs`` (``streamer``,
        ``stopping_criteria``...) let a caller such as the HTTP server vary them per call; they
        run Hugging Face ``generate``, as beam search does. Otherwise the engine decodes every
        candidate as its own request (sampling seeds drawn from torch's global generator, so
        ``torch.manual_seed`` reproduces a call).
        """
        import torch

        config = generation_config or self.generation_config

        if not contexts:
            return []
        if self.engine is not None and generation_config is None and not generate_kwargs:
            return self._generate_engine(contexts, progress)
        if self.seq2seq:
            return self._generate_seq2seq(contexts, config, generate_kwargs)
        width = max(len(ids) for ids in contexts)
        input_ids = torch.full((len(contexts), width), self.eos_id, dtype=torch.long)
        attention_mask = torch.zeros((len(contexts), width), dtype=torch.long)
        for row, ids in enumerate(contexts):
            input_ids[row, width - len(ids):] = torch.tensor(list(ids), dtype=torch.long)
            attention_mask[row, width - len(ids):] = 1
        with torch.inference_mode():
            output = self.model.generate(input_ids=input_ids.to(self.device),
                                         attention_mask=attention_mask.to(self.device),
                                         generation_config=config, **generate_kwargs)
        new_tokens = output[:, width:].tolist()
        per = config.num_return_sequences
        return [[cut_at_eos(tokens, self.eos_id) for tokens in new_tokens[i * per:(i + 1) * per]]
                for i in range(len(contexts))]

    def _generate_engine(self, contexts: Sequence[Sequence[int]],
                         progress: Callable[[int], None] | None) -> list[list[list[int]]]:
        from dialogpt.decoding.engine import Request

        per = self.candidates_per_context
        requests = [Request(list(ids), self._request_params()) for ids in contexts
                    for _ in range(per)]
        # Longest prompt first: the engine's decoding rows then sit in slots by length, and each
        # group of them attends only up to its own longest row (engine/causal.py DECODE_GROUP).
        order = sorted(range(len(requests)), key=lambda i: -len(requests[i].prompt_ids))
        on_event = None
        if progress is not None:
            def on_event(event) -> None:
                if event.finished and per == 1:
                    progress(1)
        completions = [None] * len(requests)
        for index, completion in zip(order, self.engine.run([requests[i] for i in order],
                                                            on_event)):
            completions[index] = completion
        if progress is not None and per > 1:
            progress(len(contexts))
        return [[completion.token_ids for completion in completions[i * per:(i + 1) * per]]
                for i in range(len(contexts))]

    def _request_params(self):
        """The decoder's parameters for one request; sampling without a seed gets one drawn
        from torch's global generator here, in the caller's order (as the engine would draw it
        on admission), so a call's output does not depend on the order requests run in."""
        import dataclasses

        import torch

        if not self.params.sample or self.params.seed is not None:
            return self.params
        return dataclasses.replace(self.params, seed=int(torch.randint(2 ** 62, (1,))))

    def _generate_seq2seq(self, sources: Sequence[Sequence[int]], config,
                          generate_kwargs) -> list[list[list[int]]]:
        """``generate_ids`` for an encoder-decoder: right-padded sources; the decoder's output
        starts with its start token, which is dropped."""
        import torch

        width = max(len(ids) for ids in sources)
        input_ids = torch.full((len(sources), width), self.pad_id, dtype=torch.long)
        attention_mask = torch.zeros((len(sources), width), dtype=torch.long)
        for row, ids in enumerate(sources):
            input_ids[row, :len(ids)] = torch.tensor(list(ids), dtype=torch.long)
            attention_mask[row, :len(ids)] = 1
        with torch.inference_mode():
            output = self.model.generate(input_ids=input_ids.to(self.device),
                                         attention_mask=attention_mask.to(self.device),
                                         generation_config=config, **generate_kwargs)
        new_tokens = output[:, 1:].tolist()
        per = config.num_return_sequences
        return [[cut_at_eos(tokens, self.eos_id) for tokens in new_tokens[i * per:(i + 1) * per]]
                for i in range(len(sources))]
