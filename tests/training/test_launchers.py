"""The other ways users start LSP_train.py on several processes, each checked against one process.

- ``python -m torch.distributed.launch`` (the original's launcher, deprecated in torch 2): it
  passes ``--local-rank=N`` on the command line, which the original's parser rejected;
- two "nodes" of one process each, joined by torchrun's c10d rendezvous on 127.0.0.1: every
  process has ``LOCAL_RANK=0`` but a different ``RANK``, the layout the original (which read only
  the local rank) trained wrongly.

Both must train exactly like one process with the same global batch (parameters to 1e-5).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file
from training_helpers import launch, train_argv

from dialogpt.training.train import main

pytestmark = [pytest.mark.slow, pytest.mark.multiproc]

COMMON = dict(num_optim_steps=2, valid_step=10, learning_rate=1e-4, gradient_accumulation_steps=2)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def single_process_weights(corpus, tiny_config_no_dropout, tmp_path_factory):
    out = tmp_path_factory.mktemp("single")
    assert main(train_argv(tiny_config_no_dropout, corpus["tiny8"], None, out,
                           train_batch_size=8, **COMMON)) == 0
    return load_file(str(out / "checkpoint-step-2" / "model.safetensors"))


def _assert_same_weights(out, reference) -> None:
    weights = load_file(str(out / "checkpoint-step-2" / "model.safetensors"))
    for name, tensor in reference.items():
        torch.testing.assert_close(weights[name], tensor, rtol=0, atol=1e-5, msg=name)
    state = torch.load(out / "checkpoint-step-2" / "training_state.pt", weights_only=True)
    assert state["world_size"] == 2 and len(state["rng"]) == 2


def test_legacy_torch_distributed_launch(corpus, tiny_config_no_dropout, tmp_path, repo_root,
                                         single_process_weights):
    out = tmp_path / "launch"
    argv = train_argv(tiny_config_no_dropout, corpus["tiny8"], None, out, train_batch_size=4,
                      **COMMON)
    launched = launch(["torch.distributed.launch", "--nproc_per_node=2", "--master_addr=127.0.0.1",
                       f"--master_port={_free_port()}", "LSP_train.py", *argv], repo_root)
    assert launched.returncode == 0, launched.stderr[-3000:]
    assert "processes        2 (gloo)" in launched.stderr
    _assert_same_weights(out, single_process_weights)


def test_two_nodes_joined_by_c10d_rendezvous(corpus, tiny_config_no_dropout, tmp_path, repo_root,
                                             single_process_weights):
    out = tmp_path / "nodes"
    argv = train_argv(tiny_config_no_dropout, corpus["tiny8"], None, out, train_batch_size=4,
                      **COMMON)
    port = _free_port()
    command = [sys.executable, "-m", "torch.distributed.run", "--nnodes=2", "--nproc_per_node=1",
               "--rdzv_backend=c10d", f"--rdzv_endpoint=127.0.0.1:{port}", "--rdzv_id=lsp-test",
               "LSP_train.py", *argv]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    nodes = [subprocess.Popen(command, cwd=repo_root, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [node.communicate(timeout=300) for node in nodes]
    for node, (_, stderr) in zip(nodes, outputs, strict=True):
        assert node.returncode == 0, stderr[-3000:]
    assert sum("processes        2 (gloo)" in stderr for _, stderr in outputs) == 1
    _assert_same_weights(out, single_process_weights)
