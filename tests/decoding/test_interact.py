"""``interact.py``: in-process with scripted input, and driven through a real pseudo-terminal."""

from __future__ import annotations

import fcntl
import json
import os
import re
import select
import struct
import subprocess
import sys
import termios
import time

import pytest

from dialogpt.decoding.generation import Decoder
from dialogpt.decoding.interact import main
from dialogpt.decoding.options import DecodingOptions

MAX_LENGTH = 8
LONG_LINE = ("word " * 1000)[:5000]


def scripted_input(lines):
    """A stand-in for ``input``: returns ``lines`` one by one, then raises EOFError (Ctrl-D)."""
    pending = list(lines)
    prompts = []

    def read(prompt=""):
        prompts.append(prompt)
        if not pending:
            raise EOFError
        return pending.pop(0)

    read.prompts = prompts
    return read


def read_transcript(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_chat_session_in_process(tiny_model_dir, tiny_model, tokenizer, tmp_path, monkeypatch,
                                 capsys):
    transcript = tmp_path / "chat.jsonl"
    script = ["hello", "", "how are you?", "   ", "great", "/reset", LONG_LINE, "after reset"]
    fake_input = scripted_input(script)
    monkeypatch.setattr("builtins.input", fake_input)
    argv = ["--model", str(tiny_model_dir), "--max_length", str(MAX_LENGTH), "--device", "cpu",
            "--transcript", str(transcript)]
    assert main(argv) == 0
    out, err = capsys.readouterr()
    assert len(fake_input.prompts) == len(script) + 1  # the last prompt got Ctrl-D
    assert "(history cleared)" in err and "context over the 56-token limit" in err

    events = read_transcript(transcript)
    assert [e["role"] for e in events] == ["user", "bot"] * 3 + ["reset"] + ["user", "bot"] * 2
    assert [e["conversation"] for e in events] == [1] * 7 + [2] * 4
    bots = [e for e in events if e["role"] == "bot"]
    # After the 5,000-character turn (cut to fit), the next context cannot hold it whole beside
    # the two newer turns, so it is dropped entirely: 2 turns.
    assert [b["context_turns"] for b in bots] == [1, 3, 5, 1, 2]
    assert bots[3]["context_tokens"] == tiny_model.config.n_positions - MAX_LENGTH
    assert [line for line in out.splitlines() if line.startswith("Bot: ")] == [
        f"Bot: {b['text']}" for b in bots]

    # Each reply is what the decoder gives for the history so far, turns of both speakers.
    decoder = Decoder(tiny_model, tokenizer, DecodingOptions(max_length=MAX_LENGTH))
    first, second, third = bots[:3]
    assert first["text"] == decoder.respond([["hello"]])[0].text
    assert third["text"] == decoder.respond(
        [["hello", first["text"], "how are you?", second["text"], "great"]])[0].text


def test_quit_command_and_max_history(tiny_model_dir, tmp_path, monkeypatch):
    transcript = tmp_path / "chat.jsonl"
    monkeypatch.setattr("builtins.input", scripted_input(["a", "b", "c", "/quit", "never read"]))
    assert main(["--model", str(tiny_model_dir), "--max_length", "4", "--max_history", "2",
                 "--transcript", str(transcript)]) == 0
    bots = [e for e in read_transcript(transcript) if e["role"] == "bot"]
    assert [b["context_turns"] for b in bots] == [1, 2, 2]


def test_transcript_records_mmi_candidates(tiny_model_dir, tmp_path, monkeypatch):
    transcript = tmp_path / "chat.jsonl"
    monkeypatch.setattr("builtins.input", scripted_input(["hi there"]))
    assert main(["--model", str(tiny_model_dir), "--max_length", "4", "--transcript",
                 str(transcript), "--mmi_model", str(tiny_model_dir), "--decoding", "sample",
                 "--top_k", "20", "--num_candidates", "3"]) == 0
    bot = read_transcript(transcript)[-1]
    assert len(bot["candidates"]) == len(bot["scores"]) == 3
    assert bot["text"] == bot["candidates"][bot["scores"].index(max(bot["scores"]))]


def test_grounded_chat_commands(tiny_t5_repo_dir, tmp_path, monkeypatch, capsys):
    from dialogpt.decoding.grounded_source import SourceSettings
    from dialogpt.modeling import load_model
    from dialogpt.tokenization import load_tokenizer

    transcript = tmp_path / "chat.jsonl"
    script = ["what looks the cat ?", "/knowledge the cat is red", "/show", "it looks",
              "/instruction Instruction: answer .", "/knowledge", "/reset", "what sings ?",
              "/instruction"]
    monkeypatch.setattr("builtins.input", scripted_input(script))
    assert main(["--model", str(tiny_t5_repo_dir), "--max_length", "6", "--device", "cpu",
                 "--knowledge", "the sky is blue", "--template", "card",
                 "--transcript", str(transcript)]) == 0
    out, err = capsys.readouterr()
    assert "/knowledge TEXT and /instruction TEXT set the grounding" in out
    assert "OVERRIDES the template this model was trained with (repo" in err
    assert "(template card; instruction: (none); knowledge: the sky is blue)" in err
    assert "(template card; instruction: (none); knowledge: the cat is red)" in err
    assert "(knowledge set)" in err and "(knowledge cleared)" in err
    assert "(instruction set)" in err and "(instruction cleared)" in err
    events = read_transcript(transcript)
    assert [(e["role"], e["text"]) for e in events if e["role"] in ("knowledge", "instruction")] == [
        ("knowledge", "the cat is red"), ("instruction", "Instruction: answer ."),
        ("knowledge", ""), ("instruction", "")]
    bots = [e["text"] for e in events if e["role"] == "bot"]
    decoder = Decoder(load_model(tiny_t5_repo_dir), load_tokenizer(tiny_t5_repo_dir),
                      DecodingOptions(max_length=6), sources=SourceSettings(template="card"))

    def reply(history, knowledge, instruction):
        return decoder.respond([history], [knowledge], [instruction])[0].text

    assert bots[0] == reply(["what looks the cat ?"], "the sky is blue", "")
    assert bots[1] == reply(["what looks the cat ?", bots[0], "it looks"], "the cat is red", "")
    assert bots[2] == reply(["what sings ?"], "", "Instruction: answer .")  # /reset kept it


def test_grounding_commands_with_a_causal_model(tiny_model_dir, monkeypatch, capsys):
    monkeypatch.setattr("builtins.input", scripted_input(["/knowledge a fact", "hi"]))
    assert main(["--model", str(tiny_model_dir), "--max_length", "4", "--device", "cpu"]) == 0
    out, err = capsys.readouterr()
    assert "(/knowledge needs a seq2seq (GODEL) model" in err and "Bot: " in out


class Terminal:
    """A child process on a pseudo-terminal: what a user at a real terminal would see and type."""

    def __init__(self, argv, cwd):
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 200, 0, 0))
        env = {**os.environ, "TERM": "dumb", "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen(argv, cwd=cwd, stdin=slave, stdout=slave, stderr=slave,
                                        env=env, start_new_session=True, close_fds=True)
        os.close(slave)
        self.master = master
        self.screen = ""

    def _drain(self, timeout: float) -> None:
        ready, _, _ = select.select([self.master], [], [], timeout)
        if ready:
            try:
                chunk = os.read(self.master, 65536)
            except OSError:  # the child closed the terminal
                chunk = b""
            self.screen += chunk.decode("utf-8", errors="replace")

    def expect(self, pattern: str, timeout: float = 60.0) -> str:
        """Wait for ``pattern`` after the text already matched; return the text up to it."""
        deadline = time.monotonic() + timeout
        while True:
            match = re.search(pattern, self.screen)
            if match:
                seen, self.screen = self.screen[:match.end()], self.screen[match.end():]
                return seen
            if time.monotonic() > deadline or self.process.poll() is not None and not \
                    select.select([self.master], [], [], 0)[0]:
                raise AssertionError(f"did not see {pattern!r}; screen so far: "
                                     f"{self.screen[-2000:]!r}")
            self._drain(0.1)

    def type(self, text: str) -> None:
        data = text.encode()
        for start in range(0, len(data), 256):  # keep reading the echo so neither side blocks
            os.write(self.master, data[start:start + 256])
            self._drain(0.01)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        os.close(self.master)


@pytest.mark.slow
def test_chat_through_a_pseudo_terminal(tiny_model_dir, repo_root, tmp_path):
    transcript = tmp_path / "chat.jsonl"
    terminal = Terminal([sys.executable, "interact.py", "--model", str(tiny_model_dir),
                         "--max_length", str(MAX_LENGTH), "--transcript", str(transcript)],
                        cwd=repo_root)
    try:
        terminal.expect(r"/reset clears the history")
        for message in ("Does money buy happiness?", "What is the best way?", "So difficult!"):
            terminal.expect(r"You: ")
            terminal.type(message + "\r")
            terminal.expect(r"Bot: ")
        terminal.expect(r"You: ")
        terminal.type("\r")  # an empty line: ignored, prompt again
        terminal.expect(r"You: ")
        terminal.type(LONG_LINE + "\r")  # older turns dropped, the line itself cut
        terminal.expect(r"context over the 56-token limit: 6 older turn\(s\) dropped, the first \d+ "
                        r"tokens of your message cut")
        terminal.expect(r"Bot: ")
        terminal.expect(r"You: ")
        terminal.type("/reset\r")
        terminal.expect(r"\(history cleared\)")
        terminal.expect(r"You: ")
        terminal.type("hello again\r")
        terminal.expect(r"Bot: ")
        terminal.expect(r"You: ")
        terminal.type("\x04")  # Ctrl-D
        assert terminal.process.wait(timeout=30) == 0
    finally:
        terminal.close()
    events = read_transcript(transcript)
    assert [e["role"] for e in events] == ["user", "bot"] * 4 + ["reset", "user", "bot"]
    assert [e["context_turns"] for e in events if e["role"] == "bot"] == [1, 3, 5, 1, 1]
    assert events[6]["text"] == LONG_LINE.strip()  # readline took all 5,000 characters
