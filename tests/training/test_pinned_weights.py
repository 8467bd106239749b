"""Pinned numbers pin our code, not transformers' initialisation: with every model class's
``_init_weights`` made to write zeros (``tiny_models.zero_library_init``), a fresh model from
configs/tiny or configs/t5-tiny is all zeros, yet our seeded weights come out bit-identical and
the pinned losses are reproduced, because those paths load the weights we write."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import test_seq2seq
import test_train
import torch
from safetensors.torch import load_file
from tiny_models import save_seeded_checkpoint, zero_library_init

# The tests that pin a number computed from a model: training losses (GPT-2 and T5), and the
# decoding ones whose models come from tests/tiny_models.py.
PINNED_NODES = [
    "tests/training/test_train.py::test_a_short_run_pins_its_losses_and_writes_the_original_logs",
    "tests/training/test_train.py::test_first_step_and_first_eval_losses_equal_an_explicit_"
    "computation",
    "tests/training/test_train.py::test_other_precisions_optimizers_and_options_train",
    "tests/training/test_seq2seq.py::test_a_seq2seq_run_trains_on_jsonl_and_saves_loadable_"
    "checkpoints",
    "tests/training/test_seq2seq.py::test_first_seq2seq_step_loss_equals_an_explicit_computation",
    "tests/training/test_seq2seq.py::test_seq2seq_loss_equals_an_explicit_log_softmax_and_the_"
    "models_own_loss",
    "tests/decoding/test_generation_seq2seq.py",
    "tests/decoding/test_dialogrpt.py",
    "tests/decoding/test_rerank.py",
]


@pytest.fixture
def zero_init(monkeypatch):
    zero_library_init(monkeypatch.setattr)


def _weights(directory):
    return load_file(str(directory / "model.safetensors"))


@pytest.mark.parametrize("config", ["tiny", "t5-tiny"])
def test_the_patch_bites_yet_our_weights_are_the_same(zero_init, repo_root, tiny_weights,
                                                      t5_tiny_weights, tmp_path, config):
    from dialogpt.modeling import load_model

    fresh = load_model(repo_root / "configs" / config)
    assert all(not param.any() for param in fresh.parameters())
    stored = tiny_weights if config == "tiny" else t5_tiny_weights
    again = save_seeded_checkpoint(repo_root / "configs" / config, tmp_path / config, seed=7,
                                   embedding_std=None if config == "tiny" else 1.0)
    ours, theirs = _weights(stored), _weights(again)
    assert ours.keys() == theirs.keys()
    assert all(torch.equal(ours[name], theirs[name]) for name in ours)
    loaded = load_model(stored).state_dict()
    assert all(torch.equal(loaded[name], ours[name]) for name in ours)


def test_explicit_first_losses_match_the_pins_under_a_zeroed_library_init(zero_init, corpus,
                                                                          grounded, tmp_path,
                                                                          repo_root):
    """The explicit recomputations of the pinned step-1 and eval-0 losses, from weights written
    while the library's init writes zeros."""
    gpt2 = save_seeded_checkpoint(repo_root / "configs" / "tiny", tmp_path / "gpt2", seed=7)
    test_train.test_first_step_and_first_eval_losses_equal_an_explicit_computation(corpus, gpt2)
    t5 = save_seeded_checkpoint(repo_root / "configs" / "t5-tiny", tmp_path / "t5", seed=7,
                                embedding_std=1.0)
    test_seq2seq.test_first_seq2seq_step_loss_equals_an_explicit_computation(grounded, t5)


@pytest.mark.slow
def test_every_pinned_test_passes_with_the_library_init_zeroed(repo_root):
    """The pinned tests themselves, in a child pytest with DIALOGPT_TEST_LIBRARY_INIT=zeros
    (tests/conftest.py applies ``zero_library_init`` before any model is built)."""
    env = {**os.environ, "DIALOGPT_TEST_LIBRARY_INIT": "zeros"}
    child = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                            *PINNED_NODES], cwd=repo_root, env=env, capture_output=True,
                           text=True, timeout=1200)
    assert child.returncode == 0, child.stdout[-4000:] + child.stderr[-2000:]
    assert " passed" in child.stdout.splitlines()[-1]
