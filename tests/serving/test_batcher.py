"""Dynamic batching: concurrent requests are decoded together and give what they give alone."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import replace

PROMPTS = [("Hello there", 16), ("How are you doing today, my friend?", 5), ("ok", 12),
           ("What is the best way to buy happiness?", 9), ("I like trains", 16),
           ("Tell me a story about a dragon and a knight", 7), ("yes", 3), ("No way!", 14),
           ("Where do you live?", 10), ("The weather is nice", 16), ("lol", 8),
           ("Do you play chess?", 11), ("Good night", 6), ("Why?", 16),
           ("My cat sleeps all day long on the sofa", 13), ("Thanks a lot", 4)]


def test_sixteen_concurrent_greedy_requests_equal_one_at_a_time(server):
    from openai import AsyncOpenAI, OpenAI

    model = server.state.model_id
    sync = OpenAI(base_url=server.api, api_key="test-key", max_retries=0)
    alone = [sync.chat.completions.create(model=model, temperature=0, max_tokens=limit,
                                          messages=[{"role": "user", "content": text}])
             for text, limit in PROMPTS]

    # Hold the worker on its first batch so that the other requests queue up and batch.
    release = threading.Event()
    original = server.state.engine.run_batch
    batches: list[int] = []

    def held(jobs):
        batches.append(len(jobs))
        if len(batches) == 1:
            release.wait(30)
        original(jobs)

    server.state.engine.run_batch = held

    async def together():
        client = AsyncOpenAI(base_url=server.api, api_key="test-key", max_retries=0)

        async def one(text, limit, stream):
            if not stream:
                return await client.chat.completions.create(
                    model=model, temperature=0, max_tokens=limit,
                    messages=[{"role": "user", "content": text}])
            chunks = await client.chat.completions.create(
                model=model, temperature=0, max_tokens=limit, stream=True,
                messages=[{"role": "user", "content": text}])
            return "".join([c.choices[0].delta.content or "" async for c in chunks
                            if c.choices])

        tasks = [asyncio.create_task(one(text, limit, i % 2 == 1))
                 for i, (text, limit) in enumerate(PROMPTS)]
        for _ in range(3000):  # the held first batch + the queue hold every request
            if batches and batches[0] + len(server.state.batcher.pending) == len(PROMPTS):
                break
            await asyncio.sleep(0.01)
        release.set()
        return await asyncio.gather(*tasks)

    try:
        results = asyncio.run(together())
    finally:
        server.state.engine.run_batch = original
        release.set()
    for i, (result, reference) in enumerate(zip(results, alone)):
        text = result if isinstance(result, str) else result.choices[0].message.content
        assert text == reference.choices[0].message.content, PROMPTS[i]
        if not isinstance(result, str):
            assert result.usage == reference.usage
    assert max(batches) > 1 and sum(batches) == len(PROMPTS)  # requests were batched


def test_max_batch_size_one_decodes_one_request_at_a_time(tiny_gpt2_dir):
    from serving_helpers import build_state

    from dialogpt.serving.schemas import Prompt, Sampling

    state, _ = build_state(["--model", str(tiny_gpt2_dir), "--max_batch_size", "1",
                            "--max_length", "16", "--device", "cpu"])
    engine = state.engine
    for text, _ in PROMPTS[:3]:
        state.batcher.pending.append(engine.prepare(Prompt((text,)), Sampling(engine.defaults)))
    assert [len(state.batcher._take_batch()) for _ in range(3)] == [1, 1, 1]


def test_jobs_batch_only_when_their_replies_fit_the_positions(tiny_gpt2_dir):
    from serving_helpers import build_state

    from dialogpt.serving.schemas import Prompt, Sampling

    state, _ = build_state(["--model", str(tiny_gpt2_dir), "--max_length", "16",
                            "--device", "cpu"])
    engine = state.engine
    defaults = engine.defaults

    def job(words, max_length):
        options = replace(defaults, max_length=max_length)
        return engine.prepare(Prompt((" ".join(["tea"] * words),)), Sampling(options))

    # "tea" is 2 GPT-2 tokens at the start of a text, " tea" one: 40 words + EOS = 42 tokens.
    long_context_short_reply = job(40, 8)  # 42 context tokens + 8 <= 64 positions
    short_context_long_reply = job(2, 40)  # 4 + 40 <= 64
    assert len(long_context_short_reply.context_ids) == 42
    # Together the batch would generate 40 tokens after a 42-token context: 82 > 64 positions.
    assert not engine.compatible([long_context_short_reply], short_context_long_reply)
    assert engine.compatible([short_context_long_reply], job(10, 30))
    sampled = engine.prepare(Prompt(("hi",)), Sampling(replace(defaults, decoding="sample")))
    assert not engine.compatible([short_context_long_reply], sampled)
