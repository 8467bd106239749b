"""Which train examples a conversion keeps: all, GODEL's choice, a seeded fraction, or K dialogs.

- ``fraction``: each train example, in file order, is kept when the next draw of
  ``random.Random(seed).random()`` is below the fraction. GODEL's converters draw
  ``random.random() < 0.006`` the same way but unseeded (a different file every run); with the
  same seed given to Python's ``random.seed`` first, theirs and ours keep the same examples.
- ``shots``: K whole dialogs (those that give at least one example). Where the data has topics
  (WoW's ``chosen_topic``) they are spread over topics: topics in a seeded random order, each
  giving one dialog (seeded random within the topic) per round, until K are taken, so no topic
  gives two before every topic gave one. Without topics: a seeded simple random sample. The
  chosen dialogs are written in file order.
- ``godel``: the task's own rule (WoW: its deterministic topic choice; DSTC9: its draw seeded
  2022 at 2.5%; the others: ``fraction`` at 0.006 with ``--seed``).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from dialogpt.data.tasks.common import Dialog

TRAIN_MODES = ("all", "godel", "fraction", "shots")
GODEL_FRACTION = 0.006
"""GODEL's few-shot share of train examples for WoI, CoQA and MultiWOZ."""


@dataclass
class Sample:
    """The kept dialogs (with their kept examples only) and what was drawn."""

    dialogs: list[Dialog]
    unit: str
    """``dialog`` or ``example``: what ``ids`` name."""
    ids: list[str] | None
    """Ids of the kept dialogs, or ``dialog_id:n`` of kept examples (n = index in the dialog);
    None when everything was kept."""


def keep_all(dialogs: list[Dialog]) -> Sample:
    return Sample(dialogs, "dialog", None)


def keep_dialogs(dialogs: list[Dialog]) -> Sample:
    return Sample(dialogs, "dialog", [dialog.id for dialog in dialogs])


def sample_fraction(dialogs: list[Dialog], fraction: float, seed: int) -> Sample:
    rng = random.Random(seed)
    kept, ids = [], []
    for dialog in dialogs:
        chosen = [(n, example) for n, example in enumerate(dialog.examples)
                  if rng.random() < fraction]
        if chosen:
            kept.append(Dialog(dialog.id, [example for _n, example in chosen], dialog.topic))
            ids.extend(f"{dialog.id}:{n}" for n, _example in chosen)
    return Sample(kept, "example", ids)


def sample_shots(dialogs: list[Dialog], shots: int, seed: int) -> Sample:
    """``shots`` whole dialogs, stratified by topic where every dialog has one (module doc)."""
    from dialogpt.cli import UserError

    usable = [index for index, dialog in enumerate(dialogs) if dialog.examples]
    if shots > len(usable):
        raise UserError(f"--shots {shots}: the train split has only {len(usable)} dialogs with "
                        "examples; ask for fewer or use --train all")
    rng = random.Random(seed)
    if usable and all(dialogs[index].topic is not None for index in usable):
        chosen = _round_robin(dialogs, usable, shots, rng)
    else:
        chosen = rng.sample(usable, shots)
    return keep_dialogs([dialogs[index] for index in sorted(chosen)])


def _round_robin(dialogs: list[Dialog], usable: list[int], shots: int,
                 rng: random.Random) -> list[int]:
    groups: dict[str, list[int]] = {}
    for index in usable:
        groups.setdefault(dialogs[index].topic, []).append(index)
    order = list(groups.values())
    rng.shuffle(order)
    for group in order:
        rng.shuffle(group)
    chosen: list[int] = []
    round_ = 0
    while len(chosen) < shots:
        for group in order:
            if round_ < len(group) and len(chosen) < shots:
                chosen.append(group[round_])
        round_ += 1
    return chosen
