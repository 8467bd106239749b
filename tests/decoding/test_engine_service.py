"""``EngineLoop`` (submit / stream / abort from other threads) and the engine's text: stop
strings, text released piece by piece adding up to the decoded output."""

from __future__ import annotations

import threading

import pytest
from test_engine import contexts

from dialogpt.decoding.engine import Engine, EngineLoop, Request, SamplingParams
from dialogpt.decoding.engine.text import TextTracker, held_back


def test_held_back_text():
    assert held_back("hello wor", ["world"]) == 3
    assert held_back("hello", ["xyz"]) == 0
    assert held_back("ab\ufffd", []) == 1


def test_stop_strings_cut_the_text():
    class Characters:  # a tokenizer whose tokens are characters
        def decode(self, ids, **_):
            return "".join(chr(i) for i in ids)

    tracker = TextTracker(Characters(), ["END"])
    pieces = [tracker.update([ord(c) for c in "hi E"[:n]]) for n in range(1, 5)]
    assert pieces == [("h", False), ("i", False), (" ", False), ("", False)]
    assert tracker.update([ord(c) for c in "hi EN"]) == ("", False)
    assert tracker.update([ord(c) for c in "hi ENX"]) == ("ENX", False)
    tracker = TextTracker(Characters(), ["END"])
    assert tracker.update([ord(c) for c in "a END b"]) == ("a ", True)
    assert tracker.text == "a "


def test_streamed_text_adds_up_and_stop_strings_end_it(tiny_model, tokenizer):
    context = contexts(1, seed=2)[0]
    (plain,) = Engine(tiny_model, tokenizer).run([Request(context, SamplingParams(12))])
    stop = plain.text[len(plain.text) // 2:][:3]
    assert stop.strip()
    engine = Engine(tiny_model, tokenizer, stream_text=True)
    events = []
    (stopped,) = engine.run([Request(context, SamplingParams(12, stop=(stop,)))], events.append)
    assert stopped.finish_reason == "stop"
    assert stopped.text == plain.text[:plain.text.index(stop)]
    assert "".join(event.text for event in events) == stopped.text
    assert events[-1].finished and all(not e.finished for e in events[:-1])


def test_loop_streams_and_aborts_from_other_threads(tiny_model, tokenizer):
    loop = EngineLoop(Engine(tiny_model, tokenizer, stream_text=True)).start()
    try:
        batch = contexts(4, seed=6)
        expected = Engine(tiny_model, tokenizer).run(
            [Request(c, SamplingParams(10)) for c in batch])
        results = [None] * len(batch)

        def client(index):
            handle = loop.submit(Request(batch[index], SamplingParams(10)))
            results[index] = [event.token_id for event in handle.events(timeout=60)]

        threads = [threading.Thread(target=client, args=(i,)) for i in range(len(batch))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        for tokens, completion in zip(results, expected):
            assert [t for t in tokens if t is not None][:len(completion.token_ids)] == (
                completion.token_ids)
        first_token, aborted = threading.Event(), threading.Event()

        def hold_the_engine(event):  # runs in the engine thread: no step until the abort
            first_token.set()
            aborted.wait(60)

        long = loop.submit(Request([5, 6], SamplingParams(60)), on_event=hold_the_engine)
        assert first_token.wait(60)
        long.abort()
        aborted.set()
        assert long.result(timeout=60).finish_reason == "abort"
        assert loop.pending == 0
        with pytest.raises(ValueError, match="positions"):
            loop.submit(Request(batch[0], SamplingParams(5000)))
    finally:
        loop.stop()
