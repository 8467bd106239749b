"""The grounded dummy records: deterministic, GODEL-shaped, answerable only from the knowledge."""

from __future__ import annotations

import json
import re

import pytest

from dialogpt.demo.grounded_data import (ATTRIBUTES, GroundedSpec, answer_value, make_records,
                                         split_records, write_grounded_splits)
from dialogpt.grounding import parse_record


def test_splits_are_deterministic_and_distinct(tmp_path):
    spec = GroundedSpec(n_train=50, n_valid=10, n_test=10, seed=7)
    first = write_grounded_splits(tmp_path / "a", spec)
    second = write_grounded_splits(tmp_path / "b", spec)
    assert sorted(first) == ["test", "train", "valid"]
    for split in first:
        assert first[split].read_bytes() == second[split].read_bytes()
        assert len(first[split].read_text().splitlines()) == spec.size(split)
    records = split_records(spec)
    assert records["train"][:10] != records["valid"]
    assert make_records(20, seed=8) != make_records(20, seed=7)


def test_records_parse_and_the_response_needs_a_knowledge_span():
    for record in make_records(300, seed=3):
        assert set(record) == {"Context", "Knowledge", "Response"}
        parsed = parse_record(json.loads(json.dumps(record)))
        question = parsed.turns[-1]
        person, attribute = re.fullmatch(r"\w+ (?:\w+ )*?(\w+) 's (.+) [?.]", question).groups()
        value = answer_value(record)
        assert value in ATTRIBUTES[attribute]
        fact = f"{person} 's {attribute} is {value} ."
        assert fact in record["Knowledge"]           # the span the response needs
        assert record["Response"] == f"it is {value} ."
        sentences = re.findall(r"\w+ 's [\w ]+? is \w+ \.", record["Knowledge"])
        assert len(sentences) == 4 and sentences.count(fact) == 1
        # every distractor shares the person or the attribute, never both
        for sentence in sentences:
            if sentence != fact:
                assert sentence.startswith(f"{person} 's ") != (f" {attribute} is " in sentence)


def test_values_vary_so_the_context_alone_cannot_answer():
    records = make_records(400, seed=1)
    values_per_question = {}
    for record in records:
        values_per_question.setdefault(record["Context"].split(" EOS ")[-1], set()).add(
            answer_value(record))
    assert max(len(values) for values in values_per_question.values()) >= 2


def test_history_holds_earlier_exchanges_about_the_same_person():
    from dialogpt.demo.grounded_data import OPENINGS

    assert make_records(50, seed=4) == make_records(50, seed=4, history=0)
    openings = {turn for opening in OPENINGS for turn in opening}

    def attribute_of(question):
        return next(name for name in ATTRIBUTES if f"'s {name} " in question)

    counts = set()
    for record in make_records(300, seed=4, distractors=0, history=2):
        turns = [t for t in record["Context"].split(" EOS ") if t not in openings]
        *earlier, asked = turns
        person = asked.split()[asked.split().index("'s") - 1]
        counts.add(len(earlier) // 2)
        for question, answer in zip(earlier[::2], earlier[1::2]):
            assert f"{person} 's " in question and answer.startswith("it is ")
            assert attribute_of(question) != attribute_of(asked)
        assert record["Knowledge"].startswith(f"{person} 's {attribute_of(asked)} is ")
    assert counts == {0, 1, 2}
    with pytest.raises(ValueError, match="history"):
        make_records(1, seed=4, history=-1)
