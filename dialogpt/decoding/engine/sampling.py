"""Choosing each row's next token from its logits, and the log-probabilities asked for.

``choose`` takes the float32 logits ``[rows, vocab]`` of one step and each row's state, and
applies, per row, Hugging Face ``generate``'s logits processors in its order: repetition penalty
(CTRL: a seen token's logit divided by the penalty if positive, multiplied if negative; seen =
prompt and output so far), no-repeat n-grams, banned token sequences, the minimum length (EOS and
stop token ids at -inf), then, when sampling, temperature, top-k and top-p (the smallest set of
most likely tokens whose mass reaches ``top_p``). Greedy rows take the arg-max (the first on
ties, as ``torch.argmax``); sampling rows draw with their own ``torch.Generator``, so a request's
draws do not depend on the other rows of the batch.

Log-probabilities are the log-softmax of the raw logits (before any processor): what the model
itself assigns, which is what scoring clients (OpenAI ``logprobs``, lm-evaluation-harness) expect.
"""

from __future__ import annotations

from typing import Sequence

from dialogpt.decoding.engine.api import TokenLogprob

NUCLEUS_PROBE = 256
"""Top-p without top-k first looks at the most likely 256 tokens; only when their mass is below
``top_p`` is the whole vocabulary sorted (the same set either way)."""


def banned_tokens(state) -> list[int]:
    """Tokens the row may not produce next (no-repeat n-grams, banned sequences, min length)."""
    params, sequence = state.params, state.sequence
    banned: list[int] = []
    size = params.no_repeat_ngram_size
    if size and len(sequence) + 1 >= size:
        prefix = tuple(sequence[len(sequence) - size + 1:]) if size > 1 else ()
        for start in range(len(sequence) - size + 1):
            if tuple(sequence[start:start + size - 1]) == prefix:
                banned.append(sequence[start + size - 1])
    for words in params.bad_words_ids:
        prefix = len(words) - 1
        if prefix == 0 or (len(sequence) >= prefix
                           and tuple(sequence[len(sequence) - prefix:]) == tuple(words[:-1])):
            banned.append(words[-1])
    if len(state.output) < params.min_new_tokens:
        banned.extend(state.stop_ids)
    return banned


def needs_processing(state) -> bool:
    params = state.params
    return (params.sample or params.repetition_penalty != 1.0 or params.no_repeat_ngram_size > 0
            or bool(params.bad_words_ids) or len(state.output) < params.min_new_tokens)


def _penalise(row, state) -> None:
    import torch

    seen = torch.tensor(sorted(set(state.sequence)), dtype=torch.long, device=row.device)
    scores = row[seen]
    penalty = state.params.repetition_penalty
    row[seen] = torch.where(scores < 0, scores * penalty, scores / penalty)


def _sample(row, state) -> int:
    import torch

    params = state.params
    row = row / params.temperature
    if params.top_k:
        values, candidates = row.topk(min(params.top_k, row.shape[-1]))
    else:
        values, candidates = row, None
    probs = torch.softmax(values, dim=-1)
    if params.top_p < 1.0:
        probe = min(NUCLEUS_PROBE, probs.shape[-1])
        top, order = probs.topk(probe)
        if float(top.sum()) < params.top_p and probe < probs.shape[-1]:
            top, order = probs.sort(descending=True)
        before = top.cumsum(-1) - top
        keep = int((before < params.top_p).sum())
        probs, order = top[:keep], order[:keep]
        candidates = order if candidates is None else candidates[order]
    pick = int(torch.multinomial(probs, 1, generator=state.generator))
    return pick if candidates is None else int(candidates[pick])


def choose(logits, states: Sequence) -> tuple[list[int], list[TokenLogprob | None]]:
    """The next token of every row, and its ``TokenLogprob`` where the row asks for them."""
    import torch

    wanted = [i for i, state in enumerate(states) if state.params.logprobs is not None]
    log_probs = torch.log_softmax(logits[wanted], dim=-1) if wanted else None
    special = [i for i, state in enumerate(states) if needs_processing(state)]
    tokens = logits.argmax(-1).tolist() if len(special) < len(states) else [0] * len(states)
    for i in special:
        state = states[i]
        row = logits[i].clone()
        if state.params.repetition_penalty != 1.0:
            _penalise(row, state)
        banned = banned_tokens(state)
        if banned:
            row[banned] = float("-inf")
        tokens[i] = _sample(row, state) if state.params.sample else int(row.argmax())
    logprobs: list[TokenLogprob | None] = [None] * len(states)
    for slot, i in enumerate(wanted):
        logprobs[i] = token_logprob(log_probs[slot], tokens[i], states[i].params.logprobs)
    return tokens, logprobs


def token_logprob(log_probs, token: int, top: int) -> TokenLogprob:
    """``token``'s entry of one position's log-softmax ``[vocab]``, with the ``top`` best."""
    alternatives: tuple[tuple[int, float], ...] = ()
    if top:
        values, ids = log_probs.topk(min(top, log_probs.shape[-1]))
        alternatives = tuple(zip(ids.tolist(), values.tolist()))
    return TokenLogprob(token, float(log_probs[token]), alternatives)


def prompt_logprobs(logits, prompt: Sequence[int], start: int, top: int
                    ) -> list[TokenLogprob]:
    """Entries for prompt tokens ``start + 1 ...`` from the logits at positions ``start ...``
    (position ``t`` predicts token ``t + 1``); as many as the prompt has after ``start``."""
    import torch

    count = min(logits.shape[0], len(prompt) - start - 1)
    if count <= 0:
        return []
    log_probs = torch.log_softmax(logits[:count], dim=-1)
    return [token_logprob(log_probs[j], prompt[start + j + 1], top) for j in range(count)]
