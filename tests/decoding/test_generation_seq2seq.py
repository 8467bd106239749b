"""``Decoder`` with an encoder-decoder (GODEL-shaped T5): sources, batching, EOS, lengths."""

from __future__ import annotations

import pytest
import torch

from dialogpt.cli import UserError
from dialogpt.decoding.generation import Decoder
from dialogpt.decoding.grounded_source import SourceSettings
from dialogpt.decoding.options import DecodingOptions
from dialogpt.grounding import build_source

DIALOGS = [  # (turns, knowledge, instruction); None = the decoder's default
    (["what looks the cat ?"], "the cat is red and looks near the river", None),
    (["hello", "what sings the bird ?", "it sings"], "", "Instruction: answer with the knowledge ."),
    (["x"], None, None),
    (["what moves the boat ?"], "the boat is blue", ""),
    (["what sleeps the tree ? " * 3, "it sleeps green"], "the tree is green", None),
    (["lamp"], "the lamp is red and moves near the river " * 2, "Instruction: answer ."),
]


@pytest.fixture(scope="module")
def t5(tiny_t5_dir):
    from dialogpt.modeling import load_model
    from dialogpt.tokenization import load_tokenizer

    return load_model(tiny_t5_dir).eval(), load_tokenizer(tiny_t5_dir)


def hf_alone(model, tokenizer, source: str, max_new_tokens: int, **extra) -> list[int]:
    """The reference: Hugging Face ``generate`` on one unpadded source, start token dropped,
    cut at the first EOS (what the GODEL card's loop does, one dialog at a time)."""
    input_ids = torch.tensor([tokenizer(source).input_ids])
    with torch.inference_mode():
        output = model.generate(input_ids=input_ids, max_new_tokens=max_new_tokens,
                                do_sample=False, num_beams=1, **extra)[0].tolist()
    assert output[0] == model.config.decoder_start_token_id == 0
    new = output[1:]
    return new[:new.index(1)] if 1 in new else new


def test_batched_greedy_equals_each_source_alone(t5):
    model, tokenizer = t5
    sources = SourceSettings(instruction="Instruction: default .", knowledge="default knowledge")
    decoder = Decoder(model, tokenizer, DecodingOptions(max_length=12), sources=sources)
    batched = decoder.respond([turns for turns, _, _ in DIALOGS],
                              knowledge=[kn for _, kn, _ in DIALOGS],
                              instructions=[ins for _, _, ins in DIALOGS])
    for (turns, kn, ins), response in zip(DIALOGS, batched):
        source = build_source(turns, sources.knowledge if kn is None else kn,
                              sources.instruction if ins is None else ins, "card")
        assert response.context.source == source
        assert response.context.ids == tokenizer(source).input_ids
        assert response.ids == hf_alone(model, tokenizer, source, 12)
        assert 1 not in response.ids and len(response.ids) <= 12
    assert len({tuple(r.ids) for r in batched}) > 2  # different sources lead to different outputs
    assert any(len(r.ids) < 12 for r in batched)  # some stopped at EOS...
    assert any(len(r.ids) == 12 for r in batched)  # ...and some ran to max_length NEW tokens


def test_min_length_blocks_eos(t5):
    model, tokenizer = t5
    plain = Decoder(model, tokenizer, DecodingOptions(max_length=12))
    short = [r for r in plain.respond([d[0] for d in DIALOGS]) if len(r.ids) < 5]
    assert short, "the fixture model must end some response early"
    at_least = Decoder(model, tokenizer, DecodingOptions(max_length=12, min_length=5))
    for response in at_least.respond([d[0] for d in DIALOGS]):
        assert len(response.ids) >= 5
        assert response.ids == hf_alone(model, tokenizer, response.context.source, 12,
                                        min_new_tokens=5)


def test_repo_template_and_source_limit(t5):
    model, tokenizer = t5
    decoder = Decoder(model, tokenizer, DecodingOptions(max_length=4, max_context_tokens=70),
                      sources=SourceSettings(template="repo"))
    window = decoder.window(["old turn one", "old turn two", "what looks the cat ?"],
                            knowledge="the cat is red and looks near the river " * 4)
    assert len(window.ids) <= 70 and window.ids == tokenizer(window.source).input_ids
    assert window.source.endswith(" => ") and " <|Knowledge|> " in window.source
    assert window.knowledge_cut and window.truncated_for_tokens
    assert "what looks the cat ?" in window.source
    assert window.turns_kept + window.turns_dropped_for_tokens == 3


def test_beam_search_batched_equals_alone(t5):
    model, tokenizer = t5
    decoder = Decoder(model, tokenizer, DecodingOptions(decoding="beam", num_beams=3,
                                                        max_length=6))
    histories = [d[0] for d in DIALOGS]
    batched = [r.ids for r in decoder.respond(histories)]
    assert batched == [decoder.respond([h])[0].ids for h in histories]


def test_mmi_and_grounding_are_refused_where_they_do_not_apply(t5, tiny_model, tokenizer):
    model, t5_tokenizer = t5
    with pytest.raises(UserError, match="causal DialoGPT models only"):
        Decoder(model, t5_tokenizer, DecodingOptions(decoding="sample"), ranker=object())
    causal = Decoder(tiny_model, tokenizer, DecodingOptions(max_length=4))
    with pytest.raises(UserError, match="need a seq2seq"):
        causal.respond([["hi"]], knowledge=["some fact"])
    assert causal.respond([["hi"]], knowledge=[""], instructions=[None])[0].ids
