"""Two gloo processes under torchrun train exactly like one process with the same global batch
(DialoGPT and GODEL models)."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file
from training_helpers import launch, read_csv_rows, train_argv

from dialogpt.training.train import main


@pytest.mark.slow
@pytest.mark.multiproc
@pytest.mark.parametrize("kind", ["causal", "seq2seq"])
def test_two_process_ddp_equals_one_process_with_accumulation(kind, request, tmp_path, repo_root):
    """Every step holds all 8 examples of the DB, split 2 processes x 2 micro-batches of 2, or
    1 process x 2 micro-batches of 4: parameters, losses and eval must agree (1e-5). For both
    model kinds: DialoGPT (configs/tiny, TSV) and GODEL (configs/t5-tiny, JSONL records), whose
    loss is the token mean over the step's targets on every process.

    Dropout is off (ranks draw different masks) and the rate is 1e-4 (Adam magnifies rounding
    noise on near-zero gradients to ~lr); summed or per-rank-averaged gradients would move
    thousands of entries by ~lr.
    """
    data = request.getfixturevalue("corpus" if kind == "causal" else "grounded")
    model = request.getfixturevalue("tiny_config_no_dropout" if kind == "causal"
                                    else "t5_tiny_no_dropout")
    common = dict(num_optim_steps=3, valid_step=3, learning_rate=1e-4,
                  gradient_accumulation_steps=2)
    single = tmp_path / "single"
    assert main(train_argv(model, data["tiny8"], data["eval"], single, train_batch_size=8,
                           **common)) == 0

    ddp = tmp_path / "ddp"
    argv = train_argv(model, data["tiny8"], data["eval"], ddp, train_batch_size=4, **common)
    launched = launch(["torch.distributed.run", "--standalone", "--nproc_per_node=2",
                       "LSP_train.py", *argv], repo_root)
    assert launched.returncode == 0, launched.stderr[-3000:]
    assert "processes        2 (gloo)" in launched.stderr

    one = load_file(str(single / "checkpoint-step-3" / "model.safetensors"))
    two = load_file(str(ddp / "checkpoint-step-3" / "model.safetensors"))
    for name, tensor in one.items():
        torch.testing.assert_close(two[name], tensor, rtol=0, atol=1e-5, msg=name)
    for a, b in zip(read_csv_rows(single / "train_log.txt"), read_csv_rows(ddp / "train_log.txt"),
                    strict=True):
        assert (a["global_step"], a["n_token_real"]) == (b["global_step"], b["n_token_real"])
        assert float(a["mean_loss"]) == pytest.approx(float(b["mean_loss"]), rel=1e-5)
        assert float(a["mean_ppl"]) == pytest.approx(float(b["mean_ppl"]), rel=1e-5)
    eval_one = json.loads((single / "eval_log.jsonl").read_text().splitlines()[-1])
    eval_two = json.loads((ddp / "eval_log.jsonl").read_text().splitlines()[-1])
    assert eval_two["n_tokens"] == eval_one["n_tokens"]     # eval shared across ranks, no overlap
    assert eval_two["eval_loss"] == pytest.approx(eval_one["eval_loss"], rel=1e-5)
    state = torch.load(ddp / "checkpoint-step-3" / "training_state.pt", weights_only=True)
    assert state["world_size"] == 2 and len(state["rng"]) == 2 and len(state["loader"]) == 2
