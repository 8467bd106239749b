"""Shared fixtures: single-threaded torch, the ../shared folder, the real GPT-2 BPE, a tiny T5
tokenizer."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def pytest_configure(config):
    # Two threads were often slower than one on the 2-core test machines.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    # Hermetic: a Hub id is probed on a closed local port (refused at once), never on the
    # Internet; subprocesses (demo, walkthrough, torchrun) inherit it.
    os.environ.setdefault("HF_ENDPOINT", "http://127.0.0.1:9")
    try:
        import torch
        torch.set_num_threads(1)
    except ImportError:
        pass
    if os.environ.get("DIALOGPT_TEST_LIBRARY_INIT") == "zeros":   # tests/training/
        from tiny_models import zero_library_init                   # test_pinned_weights.py

        zero_library_init()


def pytest_collection_modifyitems(config, items):
    try:
        import torch
        has_cuda = torch.cuda.is_available()
    except ImportError:
        has_cuda = False
    skip_gpu = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "gpu" in item.keywords and not has_cuda:
            item.add_marker(skip_gpu)


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The read-only reference folder beside the checkout (specs, eval cases, id files)."""
    path = Path(os.environ.get("DIALOGPT_SHARED", REPO_ROOT.parent / "shared"))
    if not path.is_dir():
        pytest.skip(f"optional reference folder {path} is absent: it holds the large evaluation "
                    "case (eval-cases/dstc7_1k) and the released Reddit id files, beside the "
                    "checkout or at $DIALOGPT_SHARED; see tests/assets/eval-cases/README.md")
    return path


@pytest.fixture
def hub_offline(monkeypatch):
    """Make every Hugging Face Hub call fail at once, as on a machine without network.

    ``huggingface_hub`` reads ``HF_HUB_OFFLINE`` when it is imported, so once an earlier test has
    imported it the variable alone no longer applies (each call then retries for ~30 s).
    """
    import huggingface_hub.constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)


@pytest.fixture(scope="session")
def t5_tokenizer_dir(tmp_path_factory) -> Path:
    """A small T5-layout SentencePiece tokenizer (pad 0, EOS 1, unk 2; ``[CONTEXT]`` and
    ``[KNOWLEDGE]`` single pieces) trained offline by ``train_t5_tokenizer`` on grounded dummy
    records in both templates; load it with ``load_tokenizer(str(t5_tokenizer_dir))``."""
    from dialogpt.demo.grounded_data import make_records
    from dialogpt.grounding import GROUNDED_INSTRUCTION, build_source, split_context
    from dialogpt.tokenization import train_t5_tokenizer

    texts = []
    for record in make_records(400, seed=11):
        turns = split_context(record["Context"])
        texts.append(build_source(turns, record["Knowledge"], GROUNDED_INSTRUCTION, "card"))
        texts.append(build_source(turns, record["Knowledge"], "", "repo"))
        texts.append(record["Response"])
    texts += ["Does money buy happiness? It is a question. Hello, how are you today?"] * 3
    return train_t5_tokenizer(texts, tmp_path_factory.mktemp("t5_tokenizer") / "tok",
                              vocab_size=500)
