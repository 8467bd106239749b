"""MMI reranking with ``--mmi_model``: the server picks what the Decoder picks."""

from __future__ import annotations

import openai
import pytest
from serving_helpers import live_server

TURNS = ["Hello there", "hi! how are you?", "fine, and you?"]


def test_mmi_reply_equals_the_decoder_with_the_same_seed(tiny_gpt2_dir, tiny_reverse_dir):
    import torch
    from openai import OpenAI

    from dialogpt.decoding.generation import Decoder
    from dialogpt.decoding.options import DecodingOptions
    from dialogpt.decoding.rerank import MMIRanker
    from dialogpt.modeling import load_model
    from dialogpt.tokenization import load_tokenizer

    tokenizer = load_tokenizer(str(tiny_gpt2_dir))
    options = DecodingOptions(decoding="sample", top_k=20, max_length=10, num_candidates=4,
                              seed=7)
    decoder = Decoder(load_model(str(tiny_gpt2_dir)), tokenizer, options,
                      MMIRanker(load_model(str(tiny_reverse_dir)), tokenizer))
    torch.manual_seed(7)
    expected = decoder.respond([TURNS])[0]
    assert len(set(expected.candidates)) > 1  # the choice matters
    with live_server(["--model", str(tiny_gpt2_dir), "--mmi_model", str(tiny_reverse_dir),
                      "--decoding", "sample", "--top_k", "20", "--max_length", "10",
                      "--num_candidates", "4"]) as live:
        client = OpenAI(base_url=live.api, api_key="unused", max_retries=0)
        messages = [{"role": "user" if i % 2 == 0 else "assistant", "content": turn}
                    for i, turn in enumerate(TURNS)]
        reply = client.chat.completions.create(model=live.state.model_id, messages=messages,
                                               seed=7)
        assert reply.choices[0].message.content == expected.text
        with pytest.raises(openai.BadRequestError, match="decoding sample"):
            client.chat.completions.create(model=live.state.model_id, messages=messages,
                                           temperature=0)
