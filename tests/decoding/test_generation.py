"""``Decoder``: determinism, batched == alone, windows, positions under left padding, EOS stop."""

from __future__ import annotations

import pytest
import torch

from dialogpt.decoding.generation import Decoder, cut_at_eos
from dialogpt.decoding.options import DecodingOptions
from dialogpt.tokenization import GPT2_EOS_ID

HISTORIES = [
    ["Does money buy happiness?"],
    ["hi", "hello there, how are you doing today?", "fine thanks"],
    ["a"],
    ["What is the best way to buy happiness ?", "You just have to be a millionaire", "hard!"],
    ["This is so difficult !"],
    ["one more " * 40],  # longer than the tiny model's window: cut from the left
]


def test_cut_at_eos():
    assert cut_at_eos([5, 6, GPT2_EOS_ID, 7, GPT2_EOS_ID], GPT2_EOS_ID) == [5, 6]
    assert cut_at_eos([5, 6], GPT2_EOS_ID) == [5, 6]
    assert cut_at_eos([GPT2_EOS_ID], GPT2_EOS_ID) == []


def test_greedy_is_deterministic(tiny_model_dir, tiny_model, tokenizer):
    from dialogpt.modeling import load_model

    options = DecodingOptions(max_length=10)
    first = [r.ids for r in Decoder(tiny_model, tokenizer, options).respond(HISTORIES)]
    again = [r.ids for r in Decoder(tiny_model, tokenizer, options).respond(HISTORIES)]
    reloaded = Decoder(load_model(tiny_model_dir), tokenizer, options).respond(HISTORIES)
    assert first == again == [r.ids for r in reloaded]
    assert all(len(ids) == 10 for ids in first)  # random weights never say EOS: full length


@pytest.mark.parametrize("options", [DecodingOptions(max_length=10),
                                     DecodingOptions(decoding="beam", num_beams=3, max_length=6)],
                         ids=["greedy", "beam"])
def test_batch_decoding_equals_decoding_each_alone(tiny_model, tokenizer, options):
    decoder = Decoder(tiny_model, tokenizer, options)
    batched = decoder.respond(HISTORIES)
    alone = [decoder.respond([history])[0] for history in HISTORIES]
    assert [r.ids for r in batched] == [r.ids for r in alone]
    assert [r.text for r in batched] == [r.text for r in alone]
    assert len({tuple(r.ids) for r in batched}) > 1  # the contexts really lead to different outputs


def test_history_window_keeps_the_last_turns(tiny_model, tokenizer):
    history = ["first turn", "second turn", "third turn"]
    windowed = Decoder(tiny_model, tokenizer, DecodingOptions(max_length=8, max_history=2))
    expected = (tokenizer.encode("second turn") + [GPT2_EOS_ID]
                + tokenizer.encode("third turn") + [GPT2_EOS_ID])
    assert windowed.window(history).ids == expected
    unlimited = Decoder(tiny_model, tokenizer, DecodingOptions(max_length=8))
    assert (windowed.respond([history])[0].ids
            == unlimited.respond([history[1:]])[0].ids)


def test_overlong_history_is_cut_to_fit_the_positions(tiny_model, tokenizer):
    options = DecodingOptions(max_length=8)
    decoder = Decoder(tiny_model, tokenizer, options)
    response = decoder.respond([["short", "x" * 5000]])[0]
    positions = tiny_model.config.n_positions
    assert decoder.context_budget == positions - 8
    assert len(response.context.ids) == positions - 8
    assert response.context.tokens_cut > 0 and response.context.turns_dropped_for_tokens == 1
    assert len(response.ids) == 8


def test_empty_history_gets_empty_response_without_the_model(tiny_model, tokenizer):
    decoder = Decoder(tiny_model, tokenizer, DecodingOptions(max_length=4))
    responses = decoder.respond([[], ["hi"]])
    assert responses[0].text == "" and responses[0].ids == []
    assert len(responses[1].ids) == 4


def test_sampling_is_reproducible_under_a_seed(tiny_model, tokenizer):
    decoder = Decoder(tiny_model, tokenizer, DecodingOptions(decoding="sample", top_k=20,
                                                             max_length=8))
    torch.manual_seed(7)
    first = [r.ids for r in decoder.respond(HISTORIES[:3])]
    torch.manual_seed(7)
    assert [r.ids for r in decoder.respond(HISTORIES[:3])] == first


def position_clock_model(stop: int, first_token: int = 1000):
    """A GPT-2 whose next token depends only on the position: ``first_token + p``, EOS at ``stop``.

    All attention/MLP weights and the token embeddings are zero, so the hidden state at position
    ``p`` is ``ln_f(wpe[p])`` with ``wpe[p]`` a one-hot vector; the untied LM head maps the one-hot
    of ``p`` to token ``first_token + p`` (and of ``stop`` to EOS). A context of ``L`` real tokens
    then answers ``first_token + L - 1 ... first_token + stop - 1`` and stops, *if* the positions
    of left-padded rows start at 0 at their first real token.
    """
    from transformers import GPT2Config, GPT2LMHeadModel

    width = 32
    config = GPT2Config(n_embd=width, n_layer=1, n_head=2, n_positions=64,
                        tie_word_embeddings=False)
    model = GPT2LMHeadModel(config).eval()
    with torch.no_grad():
        for name, param in model.named_parameters():   # LayerNorms: scale 1, shift 0
            if name.startswith(("transformer.ln", "transformer.h.0.ln")) and \
                    name.endswith("weight"):
                param.fill_(1.0)
            else:
                param.zero_()
        for position in range(width):
            model.transformer.wpe.weight[position, position] = 1.0
            token = GPT2_EOS_ID if position == stop else first_token + position
            model.lm_head.weight[token, position] = 10.0
    return model


def test_left_padded_rows_use_their_own_positions_and_stop_at_eos(tokenizer):
    stop = 12
    model = position_clock_model(stop)
    decoder = Decoder(model, tokenizer, DecodingOptions(max_length=20))
    histories = [["Hello"], ["one two three four five six"]]
    lengths = [len(decoder.window(h).ids) for h in histories]
    assert lengths[0] < lengths[1]
    responses = decoder.respond(histories)
    for length, response in zip(lengths, responses):
        assert response.ids == [1000 + p for p in range(length - 1, stop)]
