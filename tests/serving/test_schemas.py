"""Request parameters -> DecodingOptions, with the CLIs' validation and HTTP parameter names."""

from __future__ import annotations

import pytest

from dialogpt.decoding.options import DecodingOptions, OptionError
from dialogpt.serving.errors import APIError, error_body
from dialogpt.serving.schemas import (ChatBody, ChatMessage, HFParameters, chat_prompt,
                                      hf_sampling, http_message, openai_sampling, text_prompt)

DEFAULTS = DecodingOptions(max_length=20, top_k=5)


def chat_body(**fields):
    return ChatBody(messages=[ChatMessage(role="user", content="hi")], **fields)


@pytest.mark.parametrize("fields, method", [
    ({}, "greedy"), ({"temperature": 0}, "greedy"), ({"temperature": 0.7}, "sample"),
    ({"top_p": 0.9}, "sample"), ({"num_beams": 3}, "beam"),
    ({"decoding": "beam", "temperature": 0.7}, "beam"),
])
def test_decoding_method_of_a_request(fields, method):
    assert openai_sampling(chat_body(**fields), DEFAULTS, 8).options.decoding == method


def test_request_values_override_the_server_defaults():
    sampling = openai_sampling(chat_body(temperature=0.5, max_completion_tokens=7, seed=3,
                                         stop="x", n=2, min_tokens=2), DEFAULTS, 8)
    assert sampling.options == DecodingOptions(decoding="sample", max_length=7, top_k=5,
                                               temperature=0.5, seed=3, min_length=2)
    assert sampling.stop == ("x",) and sampling.n == 2 and sampling.explicit_seed


def test_hf_parameters():
    options = hf_sampling(HFParameters(max_new_tokens=9, do_sample=False, num_beams=4),
                          DEFAULTS, 8).options
    assert (options.decoding, options.max_length, options.num_beams) == ("beam", 9, 4)
    assert hf_sampling(HFParameters(do_sample=True), DEFAULTS, 8).options.decoding == "sample"


@pytest.mark.parametrize("fields, words", [
    ({"top_p": 1.5}, "top_p must be in (0, 1]"),
    ({"max_tokens": 0}, "max_tokens (new tokens of the response) must be >= 1"),
    ({"min_tokens": 30}, "min_tokens"),
    ({"n": 9}, "n must be between 1 and 8"),
    ({"stop": ["a", "b", "c", "d", "e"]}, "stop takes at most 4"),
])
def test_bad_values_are_400_naming_the_parameter(fields, words):
    with pytest.raises(APIError) as caught:
        openai_sampling(chat_body(**fields), DEFAULTS, 8)
    assert caught.value.status == 400 and words in caught.value.message
    assert "--" not in caught.value.message.replace("the server's --max_n", "")


def test_http_message_renames_flags():
    assert http_message(OptionError("{max_length} 64: too long; use {decoding} sample")) == \
        "max_tokens 64: too long; use decoding sample"
    assert http_message(OptionError("reranking ({mmi_model}) needs")) == \
        "reranking (the server's --mmi_model) needs"


def test_chat_prompt_mapping():
    body = ChatBody(messages=[
        ChatMessage(role="system", content="Be kind."),
        ChatMessage(role="user", content="  Hello \n world "),
        ChatMessage(role="assistant", content=[{"type": "text", "text": "Hi!"}]),
        ChatMessage(role="user", content="Bye")], knowledge="facts")
    prompt = chat_prompt(body)
    assert prompt.turns == ("Hello world", "Hi!", "Bye")
    assert prompt.instruction == "Be kind." and prompt.knowledge == "facts"
    assert chat_prompt(chat_body()).instruction is None


def test_text_prompt_splits_turns_on_eos():
    assert text_prompt("a EOS b  c", "prompt").turns == ("a", "b c")
    with pytest.raises(APIError, match="empty turn"):
        text_prompt("a EOS  EOS b", "prompt")
    with pytest.raises(APIError, match="is empty"):
        text_prompt("   ", "inputs")


def test_error_shapes():
    error = APIError(429, "busy", code="queue_full")
    assert error_body(error, "/v1/chat/completions") == {"error": {
        "message": "busy", "type": "rate_limit_error", "param": None, "code": "queue_full"}}
    assert error_body(error, "/generate") == {"error": "busy", "error_type": "overloaded"}
