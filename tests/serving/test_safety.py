"""Safe mode: blocklisted words are banned while generating and never returned."""

from __future__ import annotations

import re

import pytest
from serving_helpers import live_server

from dialogpt.cli import UserError
from dialogpt.serving.safety import DEFAULT_BLOCKLIST, SafetyFilter, spellings

HELLO = [{"role": "user", "content": "Hello there"}]


def holds_word(text: str, word: str) -> bool:
    return re.search(rf"(?<![a-z0-9_]){re.escape(word.lower())}(?![a-z0-9_])",
                     text.lower()) is not None


def ask(live, **extra):
    from openai import OpenAI

    client = OpenAI(base_url=live.api, api_key="unused", max_retries=0)
    return client.chat.completions.create(model=live.state.model_id, messages=HELLO,
                                          temperature=0, max_tokens=16, **extra)


@pytest.fixture(scope="module")
def unsafe_reply(tiny_gpt2_dir):
    with live_server(["--model", str(tiny_gpt2_dir), "--max_length", "16"]) as live:
        return ask(live).choices[0].message.content


def test_blocked_word_is_avoided_while_generating(tiny_gpt2_dir, unsafe_reply, tmp_path):
    word = next(w for w in unsafe_reply.split() if w.isalpha() and len(w) > 3)
    blocklist = tmp_path / "words.txt"
    blocklist.write_text(f"# test list\n{word}\n", encoding="utf-8")
    assert holds_word(unsafe_reply, word)
    with live_server(["--model", str(tiny_gpt2_dir), "--max_length", "16",
                      "--safe", str(blocklist)]) as live:
        reply = ask(live).choices[0].message.content
        streamed = "".join(c.choices[0].delta.content or "" for c in ask(live, stream=True)
                           if c.choices)
    assert not holds_word(reply, word) and reply != unsafe_reply
    assert streamed == reply


def test_neutral_reply_after_bounded_resampling(tiny_gpt2_dir, tmp_path):
    blocklist = tmp_path / "words.txt"
    blocklist.write_text("zebra\n", encoding="utf-8")
    with live_server(["--model", str(tiny_gpt2_dir), "--max_length", "16", "--safe", str(blocklist),
                      "--safe_retries", "2", "--safe_reply", "Let us change the topic."]) as live:
        live.state.engine.safety.blocks = lambda text: text != "Let us change the topic."
        reply = ask(live)
        counters = live.state.metrics.counters
        assert reply.choices[0].message.content == "Let us change the topic."
        assert counters["safe_resamples_total"][()] == 2
        assert counters["safe_replacements_total"][()] == 1


def test_bad_words_ids_cover_the_spellings():
    from dialogpt.tokenization import load_tokenizer

    tokenizer = load_tokenizer()
    safety = SafetyFilter(["darn it"])
    banned = safety.bad_words_ids(tokenizer)
    for form in ("darn it", " darn it", " Darn it", " DARN IT", "Darn It"):
        assert tokenizer.encode(form, add_special_tokens=False) in banned
    assert spellings("ab") == [" AB", " Ab", " ab", "AB", "Ab", "ab"]
    assert safety.blocks("Well, DARN it!") and not safety.blocks("darnit")


def test_blocklist_problems_are_user_errors(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("# nothing\n", encoding="utf-8")
    with pytest.raises(UserError, match="no entries"):
        SafetyFilter.from_file(empty)
    with pytest.raises(UserError, match="contains a blocklisted word"):
        SafetyFilter(["topic"], neutral_reply="Change the topic.")
    assert SafetyFilter.from_file(DEFAULT_BLOCKLIST).blocks("oh shit")
