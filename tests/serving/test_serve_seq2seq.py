"""A GODEL-style (T5) model behind the API: system message = instruction, ``knowledge`` field."""

from __future__ import annotations

import pytest
from serving_helpers import live_server

KNOWLEDGE_A = "the boat is red and it sails on the river every morning"
KNOWLEDGE_B = "my grandmother bakes apple pies with cinnamon in winter"
MESSAGES = [{"role": "user", "content": "what is the boat like ?"}]


@pytest.fixture(scope="module")
def godel(tiny_t5_serve_dir):
    with live_server(["--model", str(tiny_t5_serve_dir), "--max_length", "12"]) as live:
        yield live


@pytest.fixture(scope="module")
def reference(tiny_t5_serve_dir):
    """The toolkit's ``Decoder`` on the same T5, greedy, called directly."""
    from dialogpt.decoding.generation import Decoder
    from dialogpt.decoding.options import DecodingOptions
    from dialogpt.modeling import load_model
    from dialogpt.tokenization import load_tokenizer

    model = load_model(str(tiny_t5_serve_dir))
    return Decoder(model, load_tokenizer(str(tiny_t5_serve_dir)), DecodingOptions(max_length=12))


def chat(server, stream=False, **extra):
    from openai import OpenAI

    client = OpenAI(base_url=server.api, api_key="unused", max_retries=0)
    messages = extra.pop("messages", MESSAGES)
    result = client.chat.completions.create(model=server.state.model_id, messages=messages,
                                            temperature=0, stream=stream, extra_body=extra)
    if stream:
        return "".join(c.choices[0].delta.content or "" for c in result if c.choices)
    return result


def test_knowledge_changes_the_reply_exactly_as_the_decoder_does(godel, reference):
    turns = [MESSAGES[0]["content"]]
    with_a = chat(godel, knowledge=KNOWLEDGE_A)
    with_b = chat(godel, knowledge=KNOWLEDGE_B)
    expected_a, expected_b = reference.respond([turns, turns], knowledge=[KNOWLEDGE_A,
                                                                          KNOWLEDGE_B])
    assert with_a.choices[0].message.content == expected_a.text
    assert with_b.choices[0].message.content == expected_b.text
    assert expected_a.text != expected_b.text
    assert with_a.usage.prompt_tokens == len(expected_a.context.ids)


def test_system_message_is_the_instruction(godel, reference):
    instruction = "Instruction: given a dialog context, you need to response empathically."
    reply = chat(godel, messages=[{"role": "system", "content": instruction}, *MESSAGES])
    expected = reference.respond([[MESSAGES[0]["content"]]], instructions=[instruction])[0]
    assert reply.choices[0].message.content == expected.text


def test_seq2seq_streams_the_same_reply(godel):
    assert chat(godel, stream=True, knowledge=KNOWLEDGE_A) == chat(
        godel, knowledge=KNOWLEDGE_A).choices[0].message.content


def test_knowledge_for_a_causal_model_is_400(client, server):
    import openai

    with pytest.raises(openai.BadRequestError, match="seq2seq"):
        client.chat.completions.create(model=server.state.model_id, messages=MESSAGES,
                                       extra_body={"knowledge": "some text"})


def test_godel_example_server_body(godel, reference):
    import httpx

    response = httpx.post(godel.url + "/generate", timeout=60,
                          json={"msg": ["tell me about the river"], "knowledge": KNOWLEDGE_A})
    expected = reference.respond([["tell me about the river"]], knowledge=[KNOWLEDGE_A])[0]
    assert response.json() == {"response": expected.text}
