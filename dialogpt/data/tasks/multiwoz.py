"""MultiWOZ (HDSA-Dialog's preprocessed JSON) -> GODEL records, as GODEL's converter writes them.

Input: a folder with ``train.json``, ``val.json``, ``test.json`` (``val`` is written as ``valid``);
each a JSON list of dialogs ``{"file": ..., "info": [turn, ...]}`` with turns carrying
``user_orig``, ``sys``, ``BS`` ({domain: [[slot, value], ...]}), ``KB`` (the DB match count) and
``act`` ({act name: ...}). Rules (spec docs/spec/grounded.md §8), for each turn:

- the user text (as it is) is appended to the history; Context = the history;
- Knowledge = the domains joined by `` | ``, each ``domain slot = value ; slot = value``, then
  `` | kb `` and the count in words;
- Response = the act names joined by spaces, `` | ``, the stripped system text, which is then
  appended to the history.

One deliberate difference: GODEL's script compares the DB *string* with 1 and 2, so counts 1 and
2 come out as "more than two"; we write what it meant: 0 zero, 1 one, 2 two, more than two.
"""

from __future__ import annotations

from pathlib import Path

from dialogpt.data.tasks.common import (BadItem, Dialog, Progress, SplitSpec, Tally, add_example,
                                        check_some_good, load_json_list, require, text_of)
from dialogpt.grounding import TURN_SEPARATOR

EXPECTED = ("HDSA-Dialog's MultiWOZ JSON: a list of dialogs with file and info (turns with "
            "user_orig, sys, BS, KB and act)")
SPLITS = (SplitSpec("train", ("train.json",)), SplitSpec("valid", ("val.json",)),
          SplitSpec("test", ("test.json",)))
HAS_TOPICS = False
COUNT_WORDS = ("zero", "one", "two")


def db_count(count) -> str:
    require(isinstance(count, int) and not isinstance(count, bool) and count >= 0, "bad_kb")
    return "kb " + (COUNT_WORDS[count] if count < len(COUNT_WORDS) else "more than two")


def belief_state(state) -> str:
    require(isinstance(state, dict), "bad_bs")
    domains = []
    for domain, slots in state.items():
        require(isinstance(slots, list) and all(
            isinstance(slot, list) and len(slot) >= 2 and isinstance(slot[0], str)
            and isinstance(slot[1], str) for slot in slots), "bad_bs")
        domains.append(domain + " " + " ; ".join(f"{slot[0]} = {slot[1]}" for slot in slots))
    return " | ".join(domains)


def convert_dialog(raw, tally: Tally) -> Dialog:
    require(isinstance(raw, dict), "dialog_not_object")
    name = text_of(raw, "file")
    turns = raw.get("info")
    require(isinstance(turns, list), "missing_info")
    history, pending = [], []
    for turn in turns:
        history.append(text_of(turn, "user_orig"))
        acts = turn.get("act")
        require(isinstance(acts, dict), "bad_act")
        system = text_of(turn, "sys").strip()
        knowledge = belief_state(turn.get("BS")) + " | " + db_count(turn.get("KB"))
        pending.append({"Context": TURN_SEPARATOR.join(history), "Knowledge": knowledge,
                        "Response": " ".join(acts) + " | " + system})
        history.append(system)
    dialog = Dialog(name.lower())
    for example in pending:
        add_example(dialog, example, tally)
    return dialog


def read_split(spec: SplitSpec, paths: list[Path], tally: Tally) -> list[Dialog]:
    path = paths[0]
    data = load_json_list(path, EXPECTED)
    dialogs, progress = [], Progress(f"multiwoz {path.name}")
    for raw in data:
        progress.tick()
        try:
            dialogs.append(convert_dialog(raw, tally))
        except BadItem as exc:
            tally.skip(exc.reason)
    check_some_good(path, len(dialogs), tally, EXPECTED)
    return dialogs
