"""``interact.py``: a multi-turn chat with a DialoGPT or GODEL model in the terminal.

The history (both speakers' turns) is the context, windowed by ``--max_history`` turns and by
tokens so that context + response always fit the model's positions (see ``context.py``); a note
is printed when the token window cut something. Commands: ``/reset`` clears the history,
``/quit`` or Ctrl-D exits, another ``/word`` is refused as unknown (``//`` sends a ``/``); Ctrl-C
at the prompt exits, Ctrl-C while the bot is thinking cancels that reply. Empty lines are
ignored; whitespace is normalised as ``prepro.py`` does for training. Input bytes that are not
UTF-8 are replaced with U+FFFD, said once.

A seq2seq (GODEL) model also reads an instruction and a piece of knowledge with the turns
(``--instruction``, ``--knowledge``); between turns ``/knowledge TEXT`` and ``/instruction TEXT``
replace them and the bare ``/knowledge`` / ``/instruction`` clear them. ``/reset`` keeps them.

``--transcript FILE.jsonl`` appends one JSON object per event (``user``, ``bot``, ``reset``):
``{"time", "conversation", "role", "text", ...}``; bot events add the context size and, with MMI,
every candidate and its score; ``knowledge`` / ``instruction`` events record a change. Each event is one ``write`` followed by a flush, so a crash loses at
most the event being written.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass
from typing import Callable, TextIO

from dialogpt.cli import UserError, setup_logging
from dialogpt.config import build_parser as build_config_parser
from dialogpt.config import flag, section
from dialogpt.decoding.decoder_config import DecoderConfig, parse_with_preset

DESCRIPTION = """Chat with a DialoGPT or GODEL model. /reset clears the history, /quit or Ctrl-D exits.

example:
  python interact.py --model models/small --decoding sample --top_p 0.9 --max_history 6
  python interact.py --model models/small --decoding sample --top_k 20 \\
      --mmi_model models/reverse --num_candidates 10
  python interact.py --model microsoft/GODEL-v1_1-base-seq2seq --preset card \\
      --instruction "Instruction: given a dialog context and related knowledge, you need to \\
response safely based on the knowledge." --knowledge "The library opens at 9 am." """

HELP_TEXT = "Commands: /reset clears the history, /quit (or Ctrl-D) exits."
GROUNDING_HELP = ("/knowledge TEXT and /instruction TEXT set the grounding (the bare commands "
                  "clear it); /show prints it.")
GROUNDING_COMMANDS = ("/knowledge", "/instruction")


class Transcript:
    """Appends chat events to a JSON-lines file (see the module docstring)."""

    def __init__(self, handle: TextIO | None) -> None:
        self.handle = handle
        self.conversation = 1

    def log(self, role: str, text: str = "", **extra) -> None:
        if self.handle is None:
            return
        event = {"time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "conversation": self.conversation,
                 "role": role, "text": text, **extra}
        self.handle.write(json.dumps(event, ensure_ascii=False) + "\n")
        self.handle.flush()


class ChatSession:
    """The conversation state: history turns (oldest first) and the decoder that answers."""

    def __init__(self, decoder, transcript: Transcript | None = None) -> None:
        self.decoder = decoder
        self.transcript = transcript or Transcript(None)
        self.history: list[str] = []
        sources = getattr(decoder, "sources", None)
        self.grounded = sources is not None
        self.knowledge = sources.knowledge if sources else ""
        self.instruction = sources.instruction if sources else ""
        # Each turn costs at least one token (its EOS), so older turns can never fit the window.
        self.max_turns = decoder.context_budget
        if decoder.options.max_history:
            self.max_turns = min(self.max_turns, decoder.options.max_history)

    def reply(self, message: str):
        """Answer ``message`` given the history; both turns join the history."""
        self.transcript.log("user", message)
        history = [*self.history, message]
        grounding = ({"knowledge": [self.knowledge], "instructions": [self.instruction]}
                     if self.grounded else {})
        response = self.decoder.respond([history], **grounding)[0]
        self.history = [*history, response.text][-self.max_turns:]
        extra = {"context_tokens": len(response.context.ids),
                 "context_turns": response.context.turns_kept}
        if response.candidates:
            extra.update(candidates=response.candidates, scores=response.scores)
        self.transcript.log("bot", response.text, **extra)
        return response

    def set_grounding(self, command: str, text: str) -> str:
        """``/knowledge TEXT`` or ``/instruction TEXT`` (empty ``text`` clears); the note to show."""
        if not self.grounded:
            return (f"({command} needs a seq2seq (GODEL) model; this causal model reads only "
                    "the dialog)")
        name = command.lstrip("/")
        setattr(self, name, text)
        self.transcript.log(name, text)
        if name == "instruction" and text and self.decoder.sources.template == "repo":
            return "(instruction set, but the repo template has no instruction: it is ignored)"
        return f"({name} {'set' if text else 'cleared'})"

    def grounding_summary(self) -> str:
        return (f"(template {self.decoder.sources.template}; instruction: "
                f"{self.instruction or '(none)'}; knowledge: {self.knowledge or '(none)'})")

    def reset(self) -> None:
        self.history = []
        self.transcript.log("reset")
        self.transcript.conversation += 1


def truncation_note(window, limit: int) -> str:
    """``limit``: the context token budget the window had to fit (not what it kept)."""
    parts = []
    if window.turns_dropped_for_tokens:
        parts.append(f"{window.turns_dropped_for_tokens} older turn(s) dropped")
    if window.tokens_cut:
        parts.append(f"the first {window.tokens_cut} tokens of your message cut")
    if window.knowledge_cut:
        parts.append("the knowledge shortened")
    if window.newest_turn_cut:
        parts.append("only the end of your message kept")
    return (f"(context over the {limit}-token limit: {', '.join(parts)}; "
            f"{len(window.ids)} tokens kept)")


def commands(grounded: bool) -> list[str]:
    return ["/reset", "/quit", "/exit", "/help", *(GROUNDING_COMMANDS + ("/show",)
                                                  if grounded else ())]


def replace_undecodable(text: str) -> str:
    """Bytes that were not UTF-8 (read as lone surrogates, ``surrogateescape``) -> U+FFFD."""
    return "".join("\ufffd" if "\ud800" <= char <= "\udfff" else char for char in text)


def run_command(session: ChatSession, message: str, note: Callable[[str], None]) -> bool:
    """Carry out a ``/command`` line; ``True`` means quit."""
    command, _, text = message.partition(" ")
    known = commands(session.grounded)
    if command not in known and command not in GROUNDING_COMMANDS:  # those explain themselves
        note(f"(unknown command {command}; commands: {', '.join(known)}; start with // to "
             "send a line beginning with /)")
    elif command in ("/quit", "/exit"):
        return True
    elif command == "/reset":
        session.reset()
        note("(history cleared)")
    elif command == "/help":
        note(HELP_TEXT + (" " + GROUNDING_HELP if session.grounded else ""))
    elif command in GROUNDING_COMMANDS:
        note(session.set_grounding(command, text))
    else:  # /show
        note(session.grounding_summary())
    return False


def run_chat(session: ChatSession, read: Callable[[str], str], write: Callable[[str], None],
             note: Callable[[str], None]) -> int:
    """The read-eval-print loop; ``read`` raises ``EOFError`` at end of input (Ctrl-D).

    Input bytes that are not UTF-8 become U+FFFD (said once); a line starting with ``/`` that
    is no command is refused with the list of commands (``//`` sends a literal ``/``)."""
    said_undecodable = False
    while True:
        try:
            line = read("You: ")
        except EOFError:
            write("")
            return 0
        except KeyboardInterrupt:
            write("")
            return 0
        cleaned = replace_undecodable(line)
        if cleaned != line and not said_undecodable:
            note("(your input held bytes that are not UTF-8: each was replaced with U+FFFD; set "
                 "the terminal to UTF-8)")
            said_undecodable = True
        message = " ".join(cleaned.split())  # whitespace normalised as prepro.py does
        if not message:
            continue
        if message.startswith("/") and not message.startswith("//"):
            if run_command(session, message, note):
                return 0
            continue
        message = message.removeprefix("/")  # "//text" sends "/text"
        try:
            response = session.reply(message)
        except KeyboardInterrupt:
            note("(reply cancelled)")
            continue
        if response.context.truncated_for_tokens:
            note(truncation_note(response.context, session.decoder.context_budget))
        write(f"Bot: {response.text}")


@dataclass(frozen=True)
class InteractConfig:
    """Everything ``interact.py`` is told: the decoder's flags, the transcript, logging."""

    decoder: DecoderConfig = section(DecoderConfig)
    transcript: str | None = flag(None, "append the conversation to this JSON-lines file")
    verbose: bool = flag(False, "debug logging", const=True)


def build_parser():
    return build_config_parser(InteractConfig, "interact.py", DESCRIPTION)


def open_transcript(path: str | None) -> TextIO | None:
    """``--transcript``'s file opened for appending (None without the flag)."""
    if not path:
        return None
    try:
        return open(path, "a", encoding="utf-8")
    except OSError as exc:
        raise UserError(f"cannot open --transcript {path}: {exc.strerror or exc}") from exc


def main(argv=None) -> int:
    config = parse_with_preset(InteractConfig, build_parser(), argv)
    setup_logging(config.verbose)
    preset_note = config.decoder.preset_note()
    if preset_note:
        print(f"({preset_note})", file=sys.stderr, flush=True)
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # "Loading weights" bars would clutter the chat
    decoder = config.decoder.load()
    if hasattr(sys.stdin, "reconfigure"):  # bytes that are not UTF-8: kept, then replaced
        sys.stdin.reconfigure(errors="surrogateescape")
    if sys.stdin.isatty():
        try:
            import readline  # noqa: F401  (line editing; also lifts the tty's 4 KiB line limit)
        except ImportError:
            pass
    transcript_handle = open_transcript(config.transcript)
    try:
        session = ChatSession(decoder, Transcript(transcript_handle))
        print(f"Chatting with {config.decoder.spec.model}. {HELP_TEXT}"
              + (f" {GROUNDING_HELP}" if session.grounded else ""), flush=True)
        if session.grounded:
            print(session.grounding_summary(), file=sys.stderr, flush=True)

        def write(text: str) -> None:
            print(text, flush=True)

        def note(text: str) -> None:
            print(text, file=sys.stderr, flush=True)

        return run_chat(session, input, write, note)
    finally:
        if transcript_handle is not None:
            transcript_handle.close()
