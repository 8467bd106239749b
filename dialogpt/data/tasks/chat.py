"""People's own chat data -> GODEL records: OpenAI chat JSONL, ShareGPT, or named columns.

Forms (``--chat_format auto`` tells them apart by the file's suffix and its first record):

- ``openai``: ``{"messages": [{"role", "content"}, ...]}`` per line (or a JSON list of them).
  ``system`` (or ``developer``) messages become the record's Instruction; ``content`` may be a
  string or a list of ``{"type": "text", "text"}`` parts; an assistant message with
  ``"weight": 0`` stays in the history but is not an example (OpenAI's own meaning).
- ``sharegpt``: ``{"conversations": [{"from", "value"}, ...]}``; ``human``/``user`` speak to
  ``gpt``/``assistant`` (also ``chatgpt``, ``bard``, ``bing``, ``model``); ``system`` is the
  Instruction.
- ``columns``: JSON, JSON lines, CSV or Parquet with a context, a response and optionally a
  knowledge and an instruction column, read through ``datasets`` from the local file. A context
  cell is a string (turns joined by `` EOS ``) or a list of turns. One row is one example.

In the two message forms every assistant turn is an example whose Context is the turns before it
(system messages aside). Messages with tool roles or tool calls, non-text parts and the like make
the dialog be skipped and counted by reason. ``--input`` is one file (all of it is ``train``) or
a folder of files named ``train``, ``valid`` (``validation``, ``dev``) and ``test`` with one of
the suffixes below.
"""

from __future__ import annotations

from pathlib import Path

from dialogpt.cli import UserError
from dialogpt.data.tasks.common import (BadItem, Dialog, Progress, SplitSpec, Tally, add_example,
                                        iter_json_lines, load_json_list, require)
from dialogpt.grounding import TURN_SEPARATOR, split_context

CHAT_FORMATS = ("auto", "openai", "sharegpt", "columns")
SUFFIXES = (".jsonl", ".json", ".csv", ".parquet")
SPLIT_NAMES = {"train": "train", "valid": "valid", "validation": "valid", "dev": "valid",
               "test": "test"}
HAS_TOPICS = False
EXPECTED = {
    "openai": 'OpenAI chat JSON lines: {"messages": [{"role": ..., "content": ...}, ...]} a line',
    "sharegpt": 'ShareGPT JSON: {"conversations": [{"from": ..., "value": ...}, ...]} records',
    "columns": "a table (JSON, JSON lines, CSV or Parquet) with context and response columns",
}
ROLES = {"openai": {"system": "system", "developer": "system", "user": "user",
                    "assistant": "assistant"},
         "sharegpt": {"system": "system", "human": "user", "user": "user", "gpt": "assistant",
                      "assistant": "assistant", "chatgpt": "assistant", "bard": "assistant",
                      "bing": "assistant", "model": "assistant"}}


def plan(input_path: Path) -> list[tuple[SplitSpec, list[Path]]]:
    """The splits of ``--input``: a file is ``train``; a folder holds one file per split."""
    if input_path.is_file():
        _check_suffix(input_path)
        return [(SplitSpec("train", (input_path.name,)), [input_path])]
    found: dict[str, Path] = {}
    for path in sorted(input_path.iterdir()):
        split = SPLIT_NAMES.get(path.stem)
        if split and path.suffix in SUFFIXES and path.is_file():
            if split in found:
                raise UserError(f"--input {input_path}: both {found[split].name} and {path.name} "
                                f"would be the {split} split; keep one")
            found[split] = path
    if "train" not in found:
        raise UserError(f"--input {input_path}: no train file (expected train.jsonl, train.json, "
                        "train.csv or train.parquet, and optionally valid.* and test.*)")
    return [(SplitSpec(split, (found[split].name,)), [found[split]])
            for split in ("train", "valid", "test") if split in found]


def _check_suffix(path: Path) -> None:
    if path.suffix.lower() not in SUFFIXES:
        raise UserError(f"--input {path}: unknown kind of file {path.suffix or '(no suffix)'}; "
                        f"expected one of {', '.join(SUFFIXES)} ({EXPECTED['openai']}; "
                        f"{EXPECTED['sharegpt']}; or {EXPECTED['columns']})")


def detect_format(path: Path, chat_format: str) -> str:
    """``openai``, ``sharegpt`` or ``columns`` for ``path`` (``chat_format`` unless ``auto``)."""
    if chat_format != "auto":
        return chat_format
    if path.suffix.lower() in (".csv", ".parquet"):
        return "columns"
    first = _first_record(path)
    if isinstance(first, dict) and "messages" in first:
        return "openai"
    if isinstance(first, dict) and "conversations" in first:
        return "sharegpt"
    return "columns"


def _first_record(path: Path):
    import json

    with open(path, "rb") as handle:
        head = handle.read(1 << 16).lstrip()
    if head.startswith(b"["):
        data = load_json_list(path, "a JSON list of records")
        return data[0] if data else None
    line = head.split(b"\n", 1)[0]
    try:
        return json.loads(line)
    except ValueError:
        return None


def _content(message: dict, form: str) -> str:
    content = message.get("content" if form == "openai" else "value")
    if isinstance(content, list):
        require(all(isinstance(part, dict) and part.get("type") == "text"
                    and isinstance(part.get("text"), str) for part in content), "non_text_content")
        return " ".join(part["text"] for part in content)
    require(content is not None or not message.get("tool_calls"), "tool_calls")
    require(isinstance(content, str), "bad_content")
    return content


def messages_dialog(dialog_id: str, messages, form: str, tally: Tally) -> Dialog:
    """Every assistant message of one conversation -> an example with the turns before it."""
    require(isinstance(messages, list) and messages, "no_messages")
    system, history, pending = [], [], []
    for message in messages:
        require(isinstance(message, dict), "bad_message")
        role = ROLES[form].get(message.get("role" if form == "openai" else "from"))
        require(role is not None, "unsupported_role")
        text = _content(message, form)
        if role == "system":
            system.append(text)
            continue
        if role == "assistant" and message.get("weight", 1) != 0:
            if not history:
                tally.skip("no_context")
            else:
                pending.append(_example(history, "", text))
        history.append(text)
    dialog = Dialog(dialog_id)
    for example in pending:
        if system:
            example["Instruction"] = "\n".join(system)
        add_example(dialog, example, tally)
    return dialog


def _example(turns: list[str], knowledge: str, response: str) -> dict:
    """A record; the Context is a list where a turn holds `` EOS `` (a joined string would split
    it in two)."""
    joined = TURN_SEPARATOR.join(turns)
    context = joined if split_context(joined) == turns else list(turns)
    return {"Context": context, "Knowledge": knowledge, "Response": response}


def read_messages(path: Path, form: str, tally: Tally) -> list[Dialog]:
    key = "messages" if form == "openai" else "conversations"
    if path.suffix.lower() == ".json" and path.read_bytes()[:1 << 10].lstrip().startswith(b"["):
        items = enumerate(load_json_list(path, EXPECTED[form]), start=1)
    else:
        items = iter_json_lines(path, tally, EXPECTED[form])
    dialogs, progress = [], Progress(f"chat {path.name}")
    for number, item in items:
        progress.tick()
        try:
            require(isinstance(item, dict) and key in item, f"no_{key}")
            name = item.get("id")
            dialogs.append(messages_dialog(str(name if name is not None else number),
                                           item[key], form, tally))
        except BadItem as exc:
            tally.skip(exc.reason)
    if not dialogs and tally.skipped:
        raise UserError(f"{path}: no record in the expected format ({', '.join(tally.skipped)}); "
                        f"expected {EXPECTED[form]}")
    return dialogs


def read_split(path: Path, form: str, fields: dict[str, str], tally: Tally) -> list[Dialog]:
    if form == "columns":
        from dialogpt.data.tasks.chat_columns import read_columns

        return read_columns(path, fields, tally)
    return read_messages(path, form, tally)
