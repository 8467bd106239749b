"""lm-evaluation-harness's ``local-completions`` model against the server: a tiny multiple-choice
task (a task YAML over a local JSONL file) runs end to end, and every loglikelihood it read equals
the sum of the model's own log-softmax over the choice's tokens (``transformers`` run directly),
which is what ``echo`` with prompt logprobs must give."""

from __future__ import annotations

import json
import math

import pytest
from serving_helpers import live_server

pytestmark = pytest.mark.slow

QUESTIONS = [
    {"question": "The sky on a clear day is", "choices": ["blue", "green", "loud"], "answer": 0},
    {"question": "Two plus two equals", "choices": ["four", "seven"], "answer": 0},
    {"question": "A cat says", "choices": ["woof", "meow", "moo"], "answer": 1},
]
TASK = """task: tiny_mc
dataset_path: json
dataset_kwargs:
  data_files:
    test: {data}
test_split: test
output_type: multiple_choice
doc_to_text: "{{{{question}}}}"
doc_to_choice: "{{{{choices}}}}"
doc_to_target: answer
metric_list:
  - metric: acc
"""


def loglikelihood(model, tokenizer, context: str, continuation: str) -> float:
    """As lm-eval splits a pair: the whole text encoded at once, the context's tokens first."""
    import torch

    context_ids = tokenizer.encode(context)
    whole = tokenizer.encode(context + continuation)
    assert whole[:len(context_ids)] == context_ids
    with torch.no_grad():
        rows = torch.log_softmax(model(torch.tensor([whole])).logits[0].double(), -1)
    return sum(rows[i - 1, whole[i]].item() for i in range(len(context_ids), len(whole)))


def test_lm_eval_local_completions_multiple_choice(tiny_gpt2_dir, tmp_path):
    lm_eval = pytest.importorskip("lm_eval", reason="lm-eval is not installed "
                                                    "(pip install -e '.[test]')")
    from lm_eval.tasks import TaskManager
    from transformers import AutoTokenizer, GPT2LMHeadModel

    data = tmp_path / "tiny_mc.jsonl"
    data.write_text("".join(json.dumps(q) + "\n" for q in QUESTIONS))
    tasks = tmp_path / "tasks"
    tasks.mkdir()
    (tasks / "tiny_mc.yaml").write_text(TASK.format(data=data))
    with live_server(["--model", str(tiny_gpt2_dir), "--max_length", "16"]) as live:
        results = lm_eval.simple_evaluate(
            model="local-completions",
            model_args={"base_url": live.api + "/completions", "model": live.state.model_id,
                        "tokenizer_backend": "huggingface", "tokenizer": str(tiny_gpt2_dir),
                        "num_concurrent": 1, "max_retries": 1, "max_length": 60},
            tasks=["tiny_mc"], task_manager=TaskManager(include_path=str(tasks)),
            log_samples=True, limit=None)
    samples = results["samples"]["tiny_mc"]
    assert len(samples) == len(QUESTIONS)
    model = GPT2LMHeadModel.from_pretrained(str(tiny_gpt2_dir)).eval()
    tokenizer = AutoTokenizer.from_pretrained(str(tiny_gpt2_dir))
    for sample in samples:
        doc = sample["doc"]
        read = [resp[0][0] for resp in sample["resps"]]
        expected = [loglikelihood(model, tokenizer, doc["question"], " " + choice)
                    for choice in doc["choices"]]
        assert read == pytest.approx(expected, abs=1e-3)
        chosen = max(range(len(expected)), key=expected.__getitem__)
        assert sample["acc"] == float(chosen == doc["answer"])
    accuracy = results["results"]["tiny_mc"]["acc,none"]
    assert math.isclose(accuracy, sum(s["acc"] for s in samples) / len(samples))
