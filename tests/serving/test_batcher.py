"""Continuous batching behind the server: concurrent requests decode together in the engine and
give what they give alone; a long request does not hold back a short one that comes later."""

from __future__ import annotations

import asyncio
import threading
import time

from serving_helpers import live_server

PROMPTS = [("Hello there", 16), ("How are you doing today, my friend?", 5), ("ok", 12),
           ("What is the best way to buy happiness?", 9), ("I like trains", 16),
           ("Tell me a story about a dragon and a knight", 7), ("yes", 3), ("No way!", 14),
           ("Where do you live?", 10), ("The weather is nice", 16), ("lol", 8),
           ("Do you play chess?", 11), ("Good night", 6), ("Why?", 16),
           ("My cat sleeps all day long on the sofa", 13), ("Thanks a lot", 4)]


def watch_rows(state, delay: float = 0.0) -> list[int]:
    """Record the engine's decoding rows at every step (optionally slowing each step)."""
    core = state.engine.loop.engine
    original = core.step
    rows: list[int] = []

    def step():
        if delay:
            time.sleep(delay)
        events = original()
        rows.append(len(core.running))
        return events

    core.step = step
    return rows


async def concurrently(server, prompts):
    from openai import AsyncOpenAI

    client = AsyncOpenAI(base_url=server.api, api_key="test-key", max_retries=0)
    model = server.state.model_id

    async def one(text, limit, stream):
        if not stream:
            reply = await client.chat.completions.create(
                model=model, temperature=0, max_tokens=limit,
                messages=[{"role": "user", "content": text}])
            return reply.choices[0].message.content
        chunks = await client.chat.completions.create(
            model=model, temperature=0, max_tokens=limit, stream=True,
            messages=[{"role": "user", "content": text}])
        return "".join([c.choices[0].delta.content or "" async for c in chunks if c.choices])

    return await asyncio.gather(*[one(text, limit, i % 2 == 1)
                                  for i, (text, limit) in enumerate(prompts)])


def alone(server, prompts):
    from openai import OpenAI

    sync = OpenAI(base_url=server.api, api_key="test-key", max_retries=0)
    return [sync.chat.completions.create(model=server.state.model_id, temperature=0,
                                         max_tokens=limit,
                                         messages=[{"role": "user", "content": text}]
                                         ).choices[0].message.content
            for text, limit in prompts]


def test_sixteen_concurrent_greedy_requests_equal_one_at_a_time(server):
    expected = alone(server, PROMPTS)
    core = server.state.engine.loop.engine
    original = core.step
    rows = watch_rows(server.state, delay=0.005)
    try:
        results = asyncio.run(concurrently(server, PROMPTS))
    finally:
        core.step = original
    assert results == expected
    assert max(rows) > 1  # requests were decoded together


def test_max_batch_size_one_decodes_one_request_at_a_time(tiny_gpt2_dir):
    with live_server(["--model", str(tiny_gpt2_dir), "--max_batch_size", "1",
                      "--max_length", "16"]) as live:
        expected = alone(live, PROMPTS[:4])
        rows = watch_rows(live.state)
        assert asyncio.run(concurrently(live, PROMPTS[:4])) == expected
    assert max(rows) == 1


def test_a_long_request_does_not_hold_back_a_later_short_one(server):
    from openai import OpenAI

    client = OpenAI(base_url=server.api, api_key="test-key", max_retries=0)
    core = server.state.engine.loop.engine
    original = core.step
    watch_rows(server.state, delay=0.02)
    order: list[str] = []
    started = threading.Event()

    def long_request():
        stream = client.chat.completions.create(
            model=server.state.model_id, temperature=0, max_tokens=40, stream=True,
            messages=[{"role": "user", "content": "Hi"}], extra_body={"min_tokens": 40})
        for chunk in stream:
            started.set()
        order.append("long")

    thread = threading.Thread(target=long_request)
    try:
        thread.start()
        assert started.wait(30)
        client.chat.completions.create(model=server.state.model_id, temperature=0, max_tokens=2,
                                       messages=[{"role": "user", "content": "Hello"}])
        order.append("short")
        thread.join(60)
    finally:
        core.step = original
    assert order == ["short", "long"]
