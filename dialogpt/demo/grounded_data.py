"""Deterministic grounded dummy records for the offline GODEL demo (``demo.py --task grounded``).

Every record asks about one attribute of one person; the answer is random per record, so it can
only come from the knowledge. The knowledge holds the fact among distractor sentences that share
the person (other attributes) or the attribute (other people), in random order::

    Context:   "hi ! EOS hello , what would you like to know ? EOS what is anna 's favorite color ?"
    Knowledge: "tom 's favorite color is red . anna 's home city is rome . anna 's favorite color
                is blue ."
    Response:  "it is blue ."

A model that reads the knowledge can copy the value (``blue``); without it the best it can do is
guess one of the attribute's values, so knowledge F1 and unigram F1 of greedy responses drop when
the knowledge is left out. Records are GODEL JSON lines (``Context``, ``Knowledge``, ``Response``,
exactly the three keys of the original loaders); the splits are pure functions of the seed.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

PEOPLE = ("anna", "tom", "maria", "li", "omar", "sara", "jack", "emma", "noah", "mia", "leo",
          "zoe")
ATTRIBUTES = {
    "favorite color": ("red", "blue", "green", "yellow", "purple", "orange", "black", "white"),
    "home city": ("paris", "tokyo", "london", "berlin", "rome", "sydney", "toronto", "madrid"),
    "favorite food": ("pizza", "pasta", "sushi", "tacos", "curry", "salad", "soup", "rice"),
    "pet": ("dog", "cat", "rabbit", "parrot", "horse", "turtle", "hamster", "fox"),
    "favorite sport": ("chess", "football", "tennis", "basketball", "golf", "hockey", "rugby",
                       "boxing"),
}
OPENINGS = (
    (),
    ("hi !", "hello , what would you like to know ?"),
    ("good morning .", "morning ! ask me anything ."),
)
QUESTIONS = ("what is {person} 's {attribute} ?", "do you know {person} 's {attribute} ?",
             "tell me {person} 's {attribute} .")
FACT = "{person} 's {attribute} is {value} ."
RESPONSE = "it is {value} ."
SPLITS = ("train", "valid", "test")


@dataclass(frozen=True)
class GroundedSpec:
    """Sizes of the three splits, the seed, the number of distractor sentences, and the most
    earlier exchanges about the same person a context holds before its question."""

    n_train: int = 2000
    n_valid: int = 200
    n_test: int = 200
    seed: int = 1234
    distractors: int = 3
    history: int = 0

    def size(self, split: str) -> int:
        return {"train": self.n_train, "valid": self.n_valid, "test": self.n_test}[split]


def make_record(rng: random.Random, distractors: int = 3, history: int = 0) -> dict[str, str]:
    """One grounded record drawn from ``rng``: GODEL's ``Context``/``Knowledge``/``Response``.
    With ``history`` > 0 the context first holds up to that many earlier exchanges about other
    attributes of the same person (as in a multi-turn dialog); ``history`` 0 draws the same
    records as before the option existed."""
    person = rng.choice(PEOPLE)
    attribute = rng.choice(sorted(ATTRIBUTES))
    value = rng.choice(ATTRIBUTES[attribute])
    facts = {(person, attribute): value}
    while len(facts) < distractors + 1:
        # a distractor shares the person or the attribute with the fact asked about
        other = (person, rng.choice(sorted(ATTRIBUTES))) if rng.random() < 0.5 else (
            rng.choice(PEOPLE), attribute)
        facts.setdefault(other, rng.choice(ATTRIBUTES[other[1]]))
    sentences = [FACT.format(person=p, attribute=a, value=v) for (p, a), v in facts.items()]
    rng.shuffle(sentences)
    turns = [*rng.choice(OPENINGS)]
    if history:
        turns += earlier_exchanges(rng, person, attribute, rng.randint(0, history))
    turns.append(rng.choice(QUESTIONS).format(person=person, attribute=attribute))
    return {"Context": " EOS ".join(turns), "Knowledge": " ".join(sentences),
            "Response": RESPONSE.format(value=value)}


def earlier_exchanges(rng: random.Random, person: str, attribute: str, count: int) -> list[str]:
    """``count`` question/answer pairs about ``person``'s other attributes (at most all four)."""
    others = rng.sample([name for name in sorted(ATTRIBUTES) if name != attribute],
                        min(count, len(ATTRIBUTES) - 1))
    turns = []
    for other in others:
        turns += [rng.choice(QUESTIONS).format(person=person, attribute=other),
                  RESPONSE.format(value=rng.choice(ATTRIBUTES[other]))]
    return turns


def make_records(n: int, seed: int, distractors: int = 3, history: int = 0
                 ) -> list[dict[str, str]]:
    """``n`` records, a pure function of ``(n, seed, distractors, history)``."""
    if distractors < 0 or distractors + 1 > len(PEOPLE) + len(ATTRIBUTES) - 1:
        raise ValueError(f"distractors must be in [0, {len(PEOPLE) + len(ATTRIBUTES) - 2}]")
    if history < 0:
        raise ValueError(f"history must be >= 0, got {history}")
    rng = random.Random(f"grounded-{seed}")
    return [make_record(rng, distractors, history) for _ in range(n)]


def split_records(spec: GroundedSpec = GroundedSpec()) -> dict[str, list[dict[str, str]]]:
    """The train/valid/test records of ``spec``; each split has its own random stream."""
    return {split: make_records(spec.size(split), spec.seed * 3 + index, spec.distractors,
                                spec.history)
            for index, split in enumerate(SPLITS)}


def write_grounded_splits(out_dir: str | Path, spec: GroundedSpec = GroundedSpec()
                          ) -> dict[str, Path]:
    """Write ``train.jsonl``, ``valid.jsonl`` and ``test.jsonl`` under ``out_dir`` (atomically,
    identical bytes on every run); returns ``{split: path}``."""
    from dialogpt.fileio import atomic_write

    out_dir = Path(out_dir)
    paths = {}
    for split, records in split_records(spec).items():
        paths[split] = out_dir / f"{split}.jsonl"
        with atomic_write(paths[split]) as out:
            out.writelines(json.dumps(record, ensure_ascii=False) + "\n" for record in records)
    return paths


def answer_value(record: dict[str, str]) -> str:
    """The value a good response states (the last word of the response before its full stop)."""
    return record["Response"].split()[-2]
