"""A small synthetic Wizard of Wikipedia, in ParlAI's JSON, for the few-shot demo
(``demo.py --task finetune``).

Each dialog's topic (``chosen_topic``) is a person; the apprentice asks about the person's dream,
mood and lunch, in random order, and the wizard answers each from the fact it checked
(``checked_sentence``)::

    apprentice: "what is anna 's dream ?"
    wizard:     "it is rome ."
                checked_sentence {"anna_dream": "anna 's dream is rome ."}

The values are drawn per dialog, so an answer can only come from the knowledge. They are words
the grounded demo's model has learned to copy (a city, a color, a food: ``grounded_data``), but
the attribute names are new to it and say nothing of the kind of word they take: zero-shot, the
model mostly answers with a guess or an earlier answer of the dialog. That the answer to a
dream, a mood or a lunch is the value in the knowledge is what a handful of dialogs has to
teach. The files are
``train.json``, ``valid_random_split.json`` and ``test_random_split.json``, pure functions of the
seed.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

from dialogpt.demo.grounded_data import ATTRIBUTES as GROUNDED_ATTRIBUTES, PEOPLE

ATTRIBUTES = {
    "dream": GROUNDED_ATTRIBUTES["home city"],
    "mood": GROUNDED_ATTRIBUTES["favorite color"],
    "lunch": GROUNDED_ATTRIBUTES["favorite food"],
}
QUESTIONS = ("what is {person} 's {attribute} ?", "do you know {person} 's {attribute} ?",
             "tell me {person} 's {attribute} .")
FACT = "{person} 's {attribute} is {value} ."
RESPONSE = "it is {value} ."
PERSONA = "i like to learn about people ."
APPRENTICE, WIZARD = "0_Apprentice", "1_Wizard"
FILES = {"train": "train.json", "valid": "valid_random_split.json",
         "test": "test_random_split.json"}


@dataclass(frozen=True)
class WowSpec:
    """Dialogs per split and the seed (each dialog gives one example per attribute)."""

    n_train: int = 300
    n_valid: int = 20
    n_test: int = 100
    seed: int = 1234

    def size(self, split: str) -> int:
        return {"train": self.n_train, "valid": self.n_valid, "test": self.n_test}[split]


def make_dialog(rng: random.Random) -> dict:
    """One dialog in ParlAI's WoW layout: a question per attribute, each answered from its fact."""
    person = rng.choice(PEOPLE)
    turns = []
    for attribute in rng.sample(sorted(ATTRIBUTES), len(ATTRIBUTES)):
        value = rng.choice(ATTRIBUTES[attribute])
        fact = FACT.format(person=person, attribute=attribute, value=value)
        turns.append({"speaker": APPRENTICE, "text": rng.choice(QUESTIONS).format(
            person=person, attribute=attribute)})
        turns.append({"speaker": WIZARD, "text": RESPONSE.format(value=value),
                      "checked_sentence": {f"{person}_{attribute}": fact},
                      "checked_passage": {f"{person}_{attribute}": person}})
    return {"chosen_topic": person, "persona": PERSONA, "wizard_eval": 5, "dialog": turns}


def make_dialogs(n: int, seed: int) -> list[dict]:
    """``n`` dialogs, a pure function of ``(n, seed)``."""
    rng = random.Random(f"finetune-wow-{seed}")
    return [make_dialog(rng) for _ in range(n)]


def write_wow_files(out_dir: str | Path, spec: WowSpec = WowSpec()) -> dict[str, Path]:
    """Write the three ParlAI files under ``out_dir`` (atomically, the same bytes every run)."""
    from dialogpt.fileio import atomic_write

    out_dir = Path(out_dir)
    paths = {}
    for index, (split, name) in enumerate(FILES.items()):
        paths[split] = out_dir / name
        with atomic_write(paths[split]) as out:
            json.dump(make_dialogs(spec.size(split), spec.seed * 3 + index), out, indent=1)
            out.write("\n")
    return paths


def answer_value(text: str) -> str:
    """The value a fact or a response states: the word before its final full stop."""
    return text.split()[-2]
