"""DSTC9 track 1 (``logs.json``, ``labels.json``, ``knowledge.json``) -> GODEL records.

Input: the track's ``data`` folder: ``knowledge.json`` and per split a folder with ``logs.json``
(a list of dialog contexts, each a list of ``{speaker, text}``) and ``labels.json`` (one label per
log: ``target``, and where true ``knowledge`` [{domain, entity_id, doc_id}] and ``response``).
``train`` and ``val`` (written as ``valid``) are needed; ``test`` is converted when present.
Rules of GODEL's ``examples/dstc9/converter.py`` (spec ``docs/spec/grounded.md`` §8): a log
whose label has ``target: true`` is an example; Context = all its turns' texts; Knowledge =
``Q: {title} A: {body}`` of each labelled snippet
(``knowledge.json[domain][entity_id]["docs"][doc_id]``), joined by a space; Response = the
label's response.

One fault not repeated: GODEL's script never resets its example list between splits, so its val
file also holds every train example; ours holds the val examples only. ``--train godel`` keeps a
train example where ``random.Random(2022).random() < 0.025`` in order, which is exactly the train
file GODEL's script writes (it seeds 2022 and draws once per train example).
"""

from __future__ import annotations

from pathlib import Path

from dialogpt.cli import UserError
from dialogpt.data.tasks.common import (BadItem, Dialog, Progress, SplitSpec, Tally, add_example,
                                        load_json, load_json_list, record, require, text_of)

EXPECTED = ("DSTC9 track 1's data folder: knowledge.json, and train/ and val/ (test/ optional) "
            "each with logs.json and labels.json")
EXPECTED_LOGS = "DSTC9 track 1 logs.json: a list of dialog contexts, each a list of {speaker, text}"
EXPECTED_LABELS = "DSTC9 track 1 labels.json: a list of {target, knowledge, response} labels"
EXPECTED_KNOWLEDGE = ("DSTC9 track 1 knowledge.json: {domain: {entity_id: {docs: {doc_id: "
                      "{title, body}}}}}")
SPLITS = tuple(SplitSpec(name, (f"{folder}/logs.json", f"{folder}/labels.json", "knowledge.json"),
                         required=folder != "test")
               for name, folder in (("train", "train"), ("valid", "val"), ("test", "test")))
HAS_TOPICS = False
GODEL_SEED = 2022
GODEL_FRACTION = 0.025


def snippet(knowledge: dict, reference) -> str:
    require(isinstance(reference, dict), "bad_knowledge_reference")
    try:
        doc = knowledge[reference["domain"]][str(reference["entity_id"])]["docs"][
            str(reference["doc_id"])]
    except (KeyError, TypeError):
        raise BadItem("unknown_knowledge") from None
    return f"Q: {text_of(doc, 'title', 'unknown_knowledge')} A: " \
           f"{text_of(doc, 'body', 'unknown_knowledge')}"


def convert_log(index: int, log, label, knowledge: dict, tally: Tally) -> Dialog | None:
    """The example of one labelled log, or None for a log that needs no knowledge."""
    require(isinstance(label, dict) and isinstance(label.get("target"), bool), "bad_label")
    if not label["target"]:
        tally.counts["not_target"] += 1
        return None
    require(isinstance(log, list), "bad_log")
    turns = [text_of(turn, "text", "bad_log") for turn in log]
    references = label.get("knowledge")
    require(isinstance(references, list), "bad_knowledge_reference")
    snippets = " ".join(snippet(knowledge, reference) for reference in references)
    dialog = Dialog(str(index))
    add_example(dialog, record(turns, snippets, text_of(label, "response")), tally)
    return dialog


def read_split(spec: SplitSpec, paths: list[Path], tally: Tally) -> list[Dialog]:
    logs = load_json_list(paths[0], EXPECTED_LOGS)
    labels = load_json_list(paths[1], EXPECTED_LABELS)
    knowledge = load_json(paths[2], EXPECTED_KNOWLEDGE)
    if not isinstance(knowledge, dict):
        raise UserError(f"{paths[2]}: the top level is not an object; expected {EXPECTED_KNOWLEDGE}")
    if len(logs) != len(labels):
        raise UserError(f"{paths[0]} has {len(logs)} logs but {paths[1]} has {len(labels)} labels; "
                        "they must pair one to one (files of different splits?)")
    dialogs, progress = [], Progress(f"dstc9 {paths[0].parent.name}", unit="logs")
    for index, (log, label) in enumerate(zip(logs, labels)):
        progress.tick()
        try:
            dialog = convert_log(index, log, label, knowledge, tally)
        except BadItem as exc:
            tally.skip(exc.reason)
            continue
        if dialog is not None:
            dialogs.append(dialog)
    if labels and not dialogs and tally.skipped:
        raise UserError(f"{paths[1]}: no usable label ({', '.join(sorted(tally.skipped))}); "
                        f"expected {EXPECTED_LABELS}")
    return dialogs
