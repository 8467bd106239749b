"""CUDA paths: fp16 with the grad scaler, bf16, fused AdamW, NCCL. Skipped without a GPU."""

from __future__ import annotations

import json
import math

import pytest
import torch
from training_helpers import launch, poison_loss, train_argv

from dialogpt.training.train import main

pytestmark = pytest.mark.gpu


def _records(out):
    return [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]


def test_fp16_trains_with_a_dynamic_loss_scale_and_skips_overflowing_steps(
        corpus, tiny_config, tmp_path, monkeypatch):
    poison_loss(monkeypatch, math.inf, lambda call: call in (3, 4))  # step 2's micro-batches
    out = tmp_path / "fp16"
    assert main(train_argv(tiny_config, corpus["train"], corpus["eval"], out, num_optim_steps=4,
                           fp16="true", device="cuda")) == 0
    records = _records(out)
    assert [r["skipped"] for r in records] == [False, True, False, False]
    assert records[1]["loss_scale"] == records[0]["loss_scale"] / 2
    assert all(math.isfinite(r["loss"]) for i, r in enumerate(records) if i != 1)


def test_bf16_on_cuda_uses_fused_adamw(corpus, tiny_config, tmp_path, monkeypatch):
    from dialogpt.training import loop

    optimizers = []
    build = loop.build_optimizer
    monkeypatch.setattr(loop, "build_optimizer",
                        lambda *a, **k: optimizers.append(build(*a, **k)) or optimizers[-1])
    out = tmp_path / "bf16"
    assert main(train_argv(tiny_config, corpus["train"], None, out, num_optim_steps=3,
                           precision="bf16", device="cuda")) == 0
    assert optimizers[0].defaults.get("fused") is True
    assert all(math.isfinite(r["loss"]) for r in _records(out))


@pytest.mark.slow
@pytest.mark.multiproc
@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs two GPUs for NCCL")
def test_nccl_two_gpus_fp16(corpus, tiny_config, tmp_path, repo_root):
    out = tmp_path / "nccl"
    argv = train_argv(tiny_config, corpus["train"], corpus["eval"], out, num_optim_steps=3,
                      train_batch_size=4, precision="fp16")
    launched = launch(["torch.distributed.run", "--standalone", "--nproc_per_node=2",
                       "LSP_train.py", *argv], repo_root, timeout=600)
    assert launched.returncode == 0, launched.stderr[-3000:]
    assert "(nccl)" in launched.stderr
    assert len(_records(out)) == 3


def test_t5_on_cuda_trains_in_bf16_by_default_not_the_originals_fp16(grounded, repo_root,
                                                                      tmp_path, capfd):
    out = tmp_path / "t5"
    assert main(train_argv(repo_root / "configs" / "t5-tiny", grounded["train"], grounded["eval"],
                           out, num_optim_steps=3, device="cuda")) == 0
    assert "training in bf16 instead" in capfd.readouterr().err
    assert all(math.isfinite(r["loss"]) for r in _records(out))
