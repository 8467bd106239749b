"""Wizard of Wikipedia (ParlAI's JSON) -> GODEL records, as GODEL's converter writes them.

Input: a folder with ``train.json``, ``valid_random_split.json``, ``test_random_split.json`` and,
optionally, the unseen-topic splits ``valid_topic_split.json`` / ``test_topic_split.json``
(written as ``valid_unseen.jsonl`` / ``test_unseen.jsonl``). Each file is a JSON list of dialogs:
``chosen_topic``, ``persona``, ``dialog`` (turns with ``speaker`` and ``text``; a wizard's
speaker contains ``Wizard`` and may carry ``checked_sentence``, a dict whose first value is the
knowledge sentence; ``{}`` or no key = no knowledge; ``no_passages_used`` is kept as it is).

Rules of GODEL's ``scripts/downstream_tasks_converter.py`` (spec ``docs/spec/grounded.md`` §8),
kept exactly:

- every wizard turn is one example: Context = the history so far, Knowledge = the checked
  sentence, Response = the stripped text; every turn, wizard or not, is then appended;
- valid/test: the history starts as ``[persona]`` and turns are appended as they are (unstripped);
- train: the history starts empty (no persona) and turns are appended stripped.

GODEL writes a wizard's opening turn in train with an empty Context; every loader here rejects
such a record (spec §1), so it is skipped and counted as ``empty_context``.
``--train godel`` (:func:`godel_sample`) is GODEL's deterministic choice of train dialogs.
"""

from __future__ import annotations

from pathlib import Path

from dialogpt.data.tasks.common import (BadItem, Dialog, Progress, SplitSpec, Tally, add_example,
                                        check_some_good, load_json_list, record, require, text_of)

EXPECTED = ("ParlAI's Wizard of Wikipedia JSON: a list of dialogs, each with chosen_topic, "
            "persona and dialog (turns with speaker and text)")
SPLITS = (SplitSpec("train", ("train.json",)),
          SplitSpec("valid", ("valid_random_split.json",)),
          SplitSpec("test", ("test_random_split.json",)),
          SplitSpec("valid_unseen", ("valid_topic_split.json",), required=False),
          SplitSpec("test_unseen", ("test_topic_split.json",), required=False))
HAS_TOPICS = True
GODEL_TOPICS = slice(1, 100, 2)
"""The positions, in the topics sorted by group size, whose first dialog GODEL keeps."""


def checked_sentence(turn: dict) -> str:
    """The first value of ``checked_sentence``; ``""`` where GODEL's ``try`` would fail."""
    checked = turn.get("checked_sentence")
    if isinstance(checked, dict) and checked:
        value = next(iter(checked.values()))
        return value if isinstance(value, str) else ""
    return ""


def convert_dialog(dialog_id: str, raw, train: bool, tally: Tally) -> Dialog:
    require(isinstance(raw, dict), "dialog_not_object")
    turns = raw.get("dialog")
    require(isinstance(turns, list), "missing_dialog")
    topic = raw.get("chosen_topic")
    require(isinstance(topic, str) or not train, "bad_chosen_topic")
    history = [] if train else [text_of(raw, "persona")]
    pending = []
    for turn in turns:
        speaker, text = text_of(turn, "speaker"), text_of(turn, "text")
        if "Wizard" in speaker:
            pending.append(record(history, checked_sentence(turn), text.strip()))
        history.append(text.strip() if train else text)
    result = Dialog(dialog_id, topic=topic if isinstance(topic, str) else None)
    for example in pending:
        add_example(result, example, tally)
    return result


def read_split(spec: SplitSpec, paths: list[Path], tally: Tally) -> list[Dialog]:
    path = paths[0]
    data = load_json_list(path, EXPECTED)
    dialogs, progress = [], Progress(f"wow {path.name}")
    for index, raw in enumerate(data):
        progress.tick()
        try:
            dialogs.append(convert_dialog(str(index), raw, spec.name == "train", tally))
        except BadItem as exc:
            tally.skip(exc.reason)
    check_some_good(path, len(dialogs), tally, EXPECTED)
    return dialogs


def godel_sample(dialogs: list[Dialog]) -> list[Dialog]:
    """GODEL's train dialogs: group by topic in first-seen order, but a topic's first dialog is
    never added (its list is created empty); sort topics by group size, descending, ties in
    first-seen order; take the topics at positions 1, 3, ..., 99 and the first dialog of each."""
    groups: dict[str, list[Dialog]] = {}
    for dialog in dialogs:
        if dialog.topic not in groups:
            groups[dialog.topic] = []
        else:
            groups[dialog.topic].append(dialog)
    ranked = sorted(groups.values(), key=lambda group: -len(group))
    return [group[0] for group in ranked[GODEL_TOPICS] if group]
