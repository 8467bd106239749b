"""Wizard of the Internet (ParlAI's JSON lines) -> GODEL records, as GODEL's converter writes them.

Input: a folder with ``train.jsonl``, ``valid.jsonl``, ``test.jsonl``; each line is
``{dialog_id: {"apprentice_persona": ..., "dialog_history": [{action, text, context}, ...]}}``.
Rules (spec docs/spec/grounded.md §8):

- the history starts as the persona with newlines replaced by spaces;
- turns whose action contains ``SearchAgent`` are skipped (neither examples nor history);
- a ``Wizard => Apprentice`` turn is an example: Knowledge = the sentences of all documents of
  its ``context.contents``, in order, kept where the flattened ``context.selected_contents``
  flags, after their first flag (the "no knowledge used" option), are true, joined by a space;
  Response = the stripped text;
- every kept turn's stripped text is then appended to the history.
"""

from __future__ import annotations

from pathlib import Path

from dialogpt.data.tasks.common import (BadItem, Dialog, Progress, SplitSpec, Tally, add_example,
                                        check_some_good, iter_json_lines, record, require, text_of)

EXPECTED = ("ParlAI's Wizard of the Internet JSON lines: one {dialog_id: {apprentice_persona, "
            "dialog_history}} object per line")
SPLITS = (SplitSpec("train", ("train.jsonl",)), SplitSpec("valid", ("valid.jsonl",)),
          SplitSpec("test", ("test.jsonl",)))
HAS_TOPICS = False
WIZARD_TO_APPRENTICE = "Wizard => Apprentice"


def _flatten(lists, reason: str) -> list:
    require(isinstance(lists, list) and all(isinstance(item, list) for item in lists), reason)
    return [item for inner in lists for item in inner]


def selected_knowledge(context) -> str:
    """The selected sentences of a wizard turn's ``context``, joined by a space."""
    require(isinstance(context, dict), "bad_context")
    documents = context.get("contents")
    require(isinstance(documents, list) and all(isinstance(doc, dict) for doc in documents),
            "bad_contents")
    sentences = _flatten([doc.get("content") for doc in documents], "bad_contents")
    flags = _flatten(context.get("selected_contents"), "bad_selected_contents")
    kept = [sentence for sentence, flag in zip(sentences, flags[1:]) if flag]
    require(all(isinstance(sentence, str) for sentence in kept), "bad_contents")
    return " ".join(kept)


def convert_dialog(line, tally: Tally) -> Dialog:
    require(isinstance(line, dict) and len(line) == 1, "not_one_dialog")
    (dialog_id, data), = line.items()
    require(isinstance(data, dict), "dialog_not_object")
    history = [text_of(data, "apprentice_persona").replace("\n", " ")]
    turns = data.get("dialog_history")
    require(isinstance(turns, list), "missing_dialog_history")
    pending = []
    for turn in turns:
        action = text_of(turn, "action")
        if "SearchAgent" in action:
            continue
        text = text_of(turn, "text").strip()
        if action == WIZARD_TO_APPRENTICE:
            pending.append(record(history, selected_knowledge(turn.get("context")), text))
        history.append(text)
    dialog = Dialog(str(dialog_id))
    for example in pending:
        add_example(dialog, example, tally)
    return dialog


def read_split(spec: SplitSpec, paths: list[Path], tally: Tally) -> list[Dialog]:
    path = paths[0]
    dialogs, progress = [], Progress(f"woi {path.name}")
    for _number, line in iter_json_lines(path, tally, EXPECTED):
        progress.tick()
        try:
            dialogs.append(convert_dialog(line, tally))
        except BadItem as exc:
            tally.skip(exc.reason)
    check_some_good(path, len(dialogs), tally, EXPECTED)
    return dialogs
