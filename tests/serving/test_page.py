"""The chat page at ``/`` in a real headless Chromium (Debian's ``chromium`` driven by Playwright).

Every request to a host other than the server is blocked: the page must work without internet.
Screenshots go to the test's temporary directory.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from urllib.parse import urlparse

import pytest
from serving_helpers import live_server

pytestmark = pytest.mark.slow

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--disable-quic", "--disable-dev-shm-usage"]

KNOWLEDGE = "the boat is red and it sails on the river every morning"
INSTRUCTION = ("Instruction: given a dialog context and related knowledge, you need to respond "
               "safely based on the knowledge.")


def greedy_reply(model_dir, turns, max_length, knowledge=None, instruction=None) -> str:
    """The toolkit's ``Decoder`` on the same model, called directly."""
    from dialogpt.decoding.generation import Decoder
    from dialogpt.decoding.options import DecodingOptions
    from dialogpt.modeling import load_model
    from dialogpt.tokenization import load_tokenizer

    decoder = Decoder(load_model(str(model_dir)), load_tokenizer(str(model_dir)),
                      DecodingOptions(max_length=max_length))
    return decoder.respond([turns], knowledge=[knowledge], instructions=[instruction])[0].text


@pytest.fixture(scope="module")
def playwright():
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is "
                                   "not installed (pip install -e '.[test]')")
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no chromium at {CHROMIUM} (apt-get install -y chromium)")
    with sync_api.sync_playwright() as runner:
        yield runner


def open_page(playwright, url: str, profile: Path):
    """A fresh headless Chromium on ``url``; returns (context, page, remote requests seen)."""
    context = playwright.chromium.launch_persistent_context(
        str(profile), executable_path=CHROMIUM, headless=True, args=ARGS,
        viewport={"width": 1100, "height": 900})
    remote: list[str] = []
    local = urlparse(url).netloc

    def block(request_route):
        remote.append(request_route.request.url)
        request_route.abort()

    # Only other hosts are intercepted (intercepting the page's own POSTs stalls them).
    context.route(lambda address: urlparse(address).netloc not in (local, ""), block)
    page = context.new_page()
    page.goto(url, wait_until="domcontentloaded", timeout=60_000)
    page.get_by_role("textbox").first.wait_for(timeout=60_000)
    return context, page, remote


def send(page, text: str, replies_before: int) -> str:
    """Type ``text``, press Enter, and return the bot's finished reply."""
    box = page.locator("#chat-input textarea")
    box.fill(text)
    box.press("Enter")
    page.wait_for_function(
        "n => document.querySelectorAll('[data-testid=\"bot\"]').length > n",
        arg=replies_before, timeout=60_000)
    # The reply streams in; it is finished when the textbox takes input again.
    page.wait_for_function("() => { const t = document.querySelector('#chat-input textarea');"
                           " return t && !t.disabled; }", timeout=60_000)
    page.wait_for_timeout(300)
    return page.locator('[data-testid="bot"]').nth(replies_before).inner_text().strip()


def test_dialogpt_page_chats_offline(playwright, tiny_gpt2_dir, tmp_path):
    with live_server(["--model", str(tiny_gpt2_dir), "--max_length", "12"], page=True) as live:
        context, page, remote = open_page(playwright, live.url + "/", tmp_path / "profile")
        try:
            first = send(page, "Hello there, how are you?", 0)
            second = send(page, "Tell me more", 1)
            page.screenshot(path=str(tmp_path / "page.png"), full_page=True)
        finally:
            context.close()
    assert first == greedy_reply(tiny_gpt2_dir, ["Hello there, how are you?"], 12)
    assert second == greedy_reply(tiny_gpt2_dir, ["Hello there, how are you?", first,
                                                  "Tell me more"], 12)
    assert live.state.metrics.counters["generated_tokens_total"][()] > 0
    assert remote == []  # no font, script or analytics from the internet


def test_godel_page_knowledge_changes_the_reply(playwright, tiny_t5_serve_dir, tmp_path):
    shots = Path(os.environ.get("DIALOGPT_SCREENSHOTS", tmp_path))
    with live_server(["--model", str(tiny_t5_serve_dir), "--max_length", "10"],
                     page=True) as live:
        context, page, _ = open_page(playwright, live.url + "/", tmp_path / "profile")
        try:
            plain = send(page, "tell me about the river", 0)
            # The grounding boxes stand open beside the chat, not in the settings accordion.
            knowledge = page.get_by_label("knowledge")
            instruction = page.get_by_label("instruction")
            assert knowledge.is_visible() and instruction.is_visible()
            assert not page.get_by_text("decoding method").is_visible()  # accordion closed
            chat = page.locator("#chat-input textarea").bounding_box()
            box = knowledge.bounding_box()
            assert box["x"] + box["width"] <= chat["x"] or box["y"] + box["height"] <= chat["y"]
            instruction.fill(INSTRUCTION)
            knowledge.fill(KNOWLEDGE)
            page.get_by_role("button", name="Clear").click()
            grounded = send(page, "tell me about the river", 0)
            page.screenshot(path=str(shots / "chat_page_godel.png"), full_page=True)
        finally:
            context.close()
    assert plain != grounded
    assert grounded == greedy_reply(tiny_t5_serve_dir, ["tell me about the river"], 10,
                                    knowledge=KNOWLEDGE, instruction=INSTRUCTION)
