"""The chat page at ``/``: a Gradio ``ChatInterface`` on the same FastAPI app and engine.

Replies stream token by token from the decoding engine, as the API's do. For a GODEL (seq2seq)
model the instruction and knowledge boxes are the point of the page: they stand open beside the
chat (above it on a narrow screen), filled with the server's defaults. The closed settings
accordion under the chat holds the decoding method, top-k, top-p, temperature and max new tokens
(the server's flags are the defaults). The chat's clear button resets the dialog.
It works offline: analytics are off, server-side rendering (which needs Node) is off, and the
theme uses the browser's own fonts, so no remote font or script is requested.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from typing import Any

from dialogpt.decoding.options import DECODING_METHODS
from dialogpt.serving.errors import APIError
from dialogpt.serving.schemas import Prompt, Sampling, decoding_options, normalise

SYSTEM_FONTS = ["ui-sans-serif", "system-ui", "Segoe UI", "Roboto", "Helvetica", "Arial",
                "sans-serif"]
MONO_FONTS = ["ui-monospace", "SFMono-Regular", "Menlo", "Consolas", "monospace"]


def content_text(content: Any) -> str:
    """Text of a Gradio message's content (a string, a list of parts or a part)."""
    if isinstance(content, str):
        return content
    if isinstance(content, dict):
        return str(content.get("text") or content.get("value") or "")
    if isinstance(content, (list, tuple)):
        return " ".join(content_text(part) for part in content)
    return ""


def page_prompt(message: Any, history: list, instruction: str = "",
                knowledge: str = "") -> Prompt:
    turns = [normalise(content_text(item.get("content"))) for item in history
             if isinstance(item, dict) and item.get("role") in ("user", "assistant")]
    turns = [turn for turn in turns if turn]
    text = normalise(content_text(message))
    if not text:
        raise APIError(400, "type a message first")
    return Prompt((*turns, text), normalise(instruction or "") or None, knowledge or None)


def make_reply(state):
    """The ``ChatInterface`` function: an async generator of the growing reply."""
    from dialogpt.serving.routes import start

    async def reply(message, history, method, top_k, top_p, temperature, max_tokens,
                    instruction="", knowledge="") -> AsyncIterator[str]:
        import gradio as gr

        try:
            prompt = page_prompt(message, history or [], instruction, knowledge)
            sample = method == "sample"
            options = decoding_options(
                state.engine.defaults, max_tokens=int(max_tokens), decoding=method,
                temperature=float(temperature) if sample else None,
                top_p=float(top_p) if sample else None, top_k=int(top_k) if sample else None)
            run = await start(state, [prompt], Sampling(options), stream=True)
        except APIError as error:
            raise gr.Error(error.message) from error
        text = ""
        try:
            while not run.done:
                event = await run.next_event(30.0)
                if event is not None and event[0] == "delta":
                    text += event[2]
                    yield text
            yield run.choices[0].text
        except APIError as error:
            raise gr.Error(error.message) from error
        finally:
            if not run.done:
                run.cancel()

    return reply


def grounding_boxes(state) -> list:
    """GODEL's instruction and knowledge boxes (rendered where they are built)."""
    import gradio as gr

    sources = state.engine.sources
    return [gr.Textbox(label="instruction", lines=2, value=getattr(sources, "instruction", "")
                       or "", placeholder="e.g. Instruction: given a dialog context and related "
                                          "knowledge, you need to respond safely based on the "
                                          "knowledge."),
            gr.Textbox(label="knowledge", lines=8, value=getattr(sources, "knowledge", "") or "",
                       placeholder="facts the reply should use (empty: chit-chat)")]


def build_page(state):
    import gradio as gr

    defaults = state.engine.defaults
    positions = state.engine.default_decoder.positions
    kind = "GODEL (seq2seq)" if state.engine.seq2seq else "DialoGPT"
    with gr.Blocks(title=f"Chat with {state.model_id}", analytics_enabled=False) as page:
        gr.Markdown(f"## Chat with {state.model_id}\n{kind} model served by serve.py; the same "
                    "model answers the OpenAI-compatible API under /v1 and TGI's /generate. The "
                    "clear button resets the dialog.")
        with gr.Row(equal_height=False):
            grounding = []
            if state.engine.seq2seq:
                with gr.Column(scale=2, min_width=280):
                    grounding = grounding_boxes(state)
            with gr.Column(scale=3, min_width=360):
                chat_interface(state, defaults, positions, grounding)
    return page


def chat_interface(state, defaults, positions, grounding: list):
    import gradio as gr

    # Unrendered (render=False): the ChatInterface puts them in its accordion.
    settings = [
        gr.Radio(list(DECODING_METHODS), value=defaults.decoding, label="decoding method",
                 render=False),
        gr.Slider(0, 200, value=defaults.top_k, step=1, label="top-k (sample; 0 = off)",
                  render=False),
        gr.Slider(0.05, 1.0, value=defaults.top_p, step=0.05, label="top-p (sample; 1 = off)",
                  render=False),
        gr.Slider(0.05, 2.0, value=defaults.temperature, step=0.05,
                  label="temperature (sample)", render=False),
        gr.Slider(1, max(defaults.max_length, (positions or 513) - 1), value=defaults.max_length,
                  step=1, label="max new tokens", render=False),
    ]
    return gr.ChatInterface(
        make_reply(state), additional_inputs=settings + grounding,
        textbox=gr.Textbox(placeholder="Type a message...", elem_id="chat-input",
                           show_label=False, scale=7, render=False),
        additional_inputs_accordion=gr.Accordion("decoding settings", open=False,
                                                 render=False),
        flagging_mode="never", analytics_enabled=False, api_name=False,
        concurrency_limit=None)  # the engine, not Gradio's queue, decides what runs together


def mount_page(app, state):
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    import gradio as gr

    from dialogpt.serving.page_title import PageTitle

    theme = gr.themes.Default(font=SYSTEM_FONTS, font_mono=MONO_FONTS)
    app = gr.mount_gradio_app(app, build_page(state), path="/", theme=theme, ssr_mode=False,
                              footer_links=[], pwa=False, mcp_server=False)
    app.add_middleware(PageTitle, title=f"Chat with {state.model_id}")  # Gradio's HTML has none
    return app
