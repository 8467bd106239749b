"""GODEL records, templates and the source length policy (``dialogpt.grounding``).

Expected strings are written out by hand from the model card's and the repository's templates
(``../shared/spec/grounded.md`` §2), never produced by the code under test.
"""

from __future__ import annotations

import pytest

from dialogpt.grounding import (EMPATHIC_INSTRUCTION, GROUNDED_INSTRUCTION, BadRecord,
                                SourceTooLong, build_source, fit_source, parse_record,
                                split_context)

CARD_DIALOG = ["Does money buy happiness?",
               "It is a question. Money buys you a lot of things, but not enough to buy happiness.",
               "What is the best way to buy happiness ?"]


def words(text: str) -> list[str]:
    """A stand-in tokenizer: one id per whitespace word, plus a closing EOS like T5's."""
    return text.split() + ["</s>"]


def test_card_example_without_knowledge_byte_for_byte():
    expected = ("Instruction: given a dialog context, you need to response empathically. "
                "[CONTEXT] Does money buy happiness? EOS It is a question. Money buys you a lot "
                "of things, but not enough to buy happiness. EOS What is the best way to buy "
                "happiness ? ")
    assert build_source(CARD_DIALOG, "", EMPATHIC_INSTRUCTION, "card") == expected


def test_card_example_with_knowledge():
    expected = ("Instruction: given a dialog context and related knowledge, you need to response "
                "safely based on the knowledge. [CONTEXT] Where is the Eiffel tower? "
                "[KNOWLEDGE] The Eiffel tower stands in Paris.")
    assert build_source(["Where is the Eiffel tower?"], "The Eiffel tower stands in Paris.",
                        GROUNDED_INSTRUCTION, "card") == expected


def test_card_template_with_empty_instruction_starts_with_a_space():
    assert build_source(["hi"], "", "", "card") == " [CONTEXT] hi "


def test_repo_template_with_and_without_knowledge():
    assert build_source(["a", "b"], "k k", "ignored", "repo") == "a EOS b <|Knowledge|> k k => "
    assert build_source(["a", "b"], "", "ignored", "repo") == "a EOS b => "


def test_unknown_template():
    with pytest.raises(ValueError, match="card, repo"):
        build_source(["a"], template="server")


def test_context_splits_on_the_separator_only():
    assert split_context("GEOS rocks EOS EOSINOPHIL") == ["GEOS rocks", "EOSINOPHIL"]


def test_parse_record_string_and_list_context():
    record = parse_record({"Context": "a EOS b", "Knowledge": "k", "Response": "r"}, "inst")
    assert record.turns == ("a", "b") and record.knowledge == "k"
    assert record.response == "r" and record.instruction == "inst"
    own = parse_record({"Context": ["a"], "Response": "r", "Instruction": "mine"}, "inst")
    assert own.turns == ("a",) and own.knowledge == "" and own.instruction == "mine"
    assert parse_record({"Context": "a"}, require_response=False).response is None


@pytest.mark.parametrize("obj, reason", [
    ([1, 2], "not_object"),
    ({"Response": "r"}, "missing_context"),
    ({"Context": "a"}, "missing_response"),
    ({"Context": "a", "Response": "  "}, "empty_response"),
    ({"Context": "a", "Response": 3}, "wrong_type"),
    ({"Context": ["a", 1], "Response": "r"}, "wrong_type"),
    ({"Context": {"a": 1}, "Response": "r"}, "wrong_type"),
    ({"Context": "a", "Knowledge": ["k"], "Response": "r"}, "wrong_type"),
    ({"Context": " EOS ", "Response": "r"}, "empty_context"),
    ({"Context": [], "Response": "r"}, "empty_context"),
])
def test_parse_record_rejects(obj, reason):
    with pytest.raises(BadRecord) as info:
        parse_record(obj)
    assert info.value.reason == reason


def test_fit_source_keeps_everything_that_fits():
    # " [CONTEXT] a b EOS c " -> [CONTEXT] a b EOS c </s> = 6 ids.
    fit = fit_source(["a b", "c"], "", "", "card", words, max_tokens=6)
    assert fit.text == " [CONTEXT] a b EOS c " and fit.n_tokens == 6 and not fit.was_cut


def test_fit_source_drops_oldest_turns_before_the_knowledge_budget():
    # Full: I [CONTEXT] t1 t1 EOS t2 t2 EOS t3 [KNOWLEDGE] k1 k2 k3 k4 </s> = 15 ids.
    turns = ["t1 t1", "t2 t2", "t3"]
    fit = fit_source(turns, "k1 k2 k3 k4", "I", "card", words, max_tokens=12,
                     knowledge_budget=4)
    # Keeping 4 knowledge words leaves room for "t2 t2 EOS t3": 12 ids exactly.
    assert fit.text == "I [CONTEXT] t2 t2 EOS t3 [KNOWLEDGE] k1 k2 k3 k4"
    assert (fit.n_tokens, fit.turns_kept, fit.turns_dropped, fit.knowledge_cut) == (12, 2, 1, False)


def test_fit_source_cuts_knowledge_beyond_its_budget_before_turns():
    fit = fit_source(["t1", "t2"], "k1 k2 k3 k4 k5", "I", "card", words, max_tokens=10,
                     knowledge_budget=2)
    # I [CONTEXT] t1 EOS t2 [KNOWLEDGE] k1 k2 k3 </s> = 10 ids: all turns, 3 knowledge words.
    assert fit.text == "I [CONTEXT] t1 EOS t2 [KNOWLEDGE] k1 k2 k3"
    assert fit.turns_dropped == 0 and fit.knowledge_cut and not fit.newest_turn_cut


def test_fit_source_keeps_the_end_of_an_overlong_newest_turn():
    fit = fit_source(["old", "w1 w2 w3 w4 w5"], "k", "I", "card", words, max_tokens=6)
    # I [CONTEXT] w4 w5 </s> + the template's trailing space: 5 ids; one more word is 6... check:
    # "I [CONTEXT] w3 w4 w5 " -> I [CONTEXT] w3 w4 w5 </s> = 6 ids.
    assert fit.text == "I [CONTEXT] w3 w4 w5 "
    assert fit.newest_turn_cut and fit.knowledge_cut and fit.turns_dropped == 1


def test_fit_source_instruction_alone_too_long():
    with pytest.raises(SourceTooLong):
        fit_source(["a"], "", "a very long instruction", "card", words, max_tokens=3)


def test_fit_source_repo_template_knowledge_in_the_middle():
    # "a EOS b <|Knowledge|> k1 k2 => " -> a EOS b <|Knowledge|> k1 k2 => </s> = 8 ids.
    fit = fit_source(["a", "b"], "k1 k2", "", "repo", words, max_tokens=7, knowledge_budget=1)
    assert fit.text == "a EOS b <|Knowledge|> k1 => " and fit.knowledge_cut


def test_trained_t5_tokenizer_loads_with_t5_ids(tmp_path):
    from dialogpt.tokenization import load_tokenizer, train_t5_tokenizer

    texts = [f"the cat number {i} sat on the mat EOS hello [CONTEXT] there" for i in range(300)]
    directory = train_t5_tokenizer(texts, tmp_path / "tok", vocab_size=200)
    tokenizer = load_tokenizer(directory)
    assert (tokenizer.pad_token_id, tokenizer.eos_token_id, tokenizer.unk_token_id) == (0, 1, 2)
    ids = tokenizer(" [CONTEXT] the cat EOS sat ").input_ids
    pieces = tokenizer.convert_ids_to_tokens(ids)
    assert "[CONTEXT]" in pieces and ids[-1] == 1
    assert tokenizer.decode(ids, skip_special_tokens=True).split() == ["[CONTEXT]", "the", "cat",
                                                                       "EOS", "sat"]
    again = train_t5_tokenizer(texts, tmp_path / "again", vocab_size=200)
    assert (again / "tokenizer.json").read_bytes() == (directory / "tokenizer.json").read_bytes()
