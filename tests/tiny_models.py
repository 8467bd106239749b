"""Tiny random models saved as ``--model`` directories, shared by the decoding and serving tests.

Both use a large initializer so that greedy continuations of random weights vary (with the default
0.02 a random model repeats one token forever, which would hide batching bugs).
"""

from __future__ import annotations

import json
from pathlib import Path

TINY_POSITIONS = 64
REPO_ROOT = Path(__file__).resolve().parents[1]


def save_tiny_gpt2(directory: Path, seed: int, n_positions: int = TINY_POSITIONS) -> Path:
    """A 2-layer, 32-wide GPT-2 with the real vocabulary, plus the tokenizer, in ``directory``."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    from dialogpt.tokenization import load_tokenizer

    torch.manual_seed(seed)
    config = GPT2Config(n_embd=32, n_layer=2, n_head=2, n_positions=n_positions,
                        initializer_range=0.3)
    GPT2LMHeadModel(config).save_pretrained(directory)
    load_tokenizer().save_pretrained(directory)
    return directory


def save_tiny_t5(directory: Path, tokenizer_dir: Path, seed: int = 1,
                 grounding: dict | None = None, ends_early: bool = False) -> Path:
    """``configs/t5-tiny`` with the tokenizer's vocabulary size (rounded up to 64) and a large
    initializer, saved with the tokenizer (the shared ``t5_tokenizer_dir``) and an optional
    ``grounding.json``.

    Random weights never choose EOS; with ``ends_early`` EOS's output row copies (x1.05) the row
    of a token that greedy decoding picks now and then, so some responses end early.
    """
    import torch
    from transformers import T5ForConditionalGeneration

    from dialogpt.modeling import read_model_config
    from dialogpt.tokenization import load_tokenizer

    config = read_model_config(REPO_ROOT / "configs" / "t5-tiny")
    tokenizer = load_tokenizer(str(tokenizer_dir))
    config.vocab_size = -(-len(tokenizer) // 64) * 64
    config.initializer_factor = 20.0
    torch.manual_seed(seed)
    model = T5ForConditionalGeneration(config).eval()
    if ends_early:
        probe = tokenizer([f"[CONTEXT] what is the {word} ? [KNOWLEDGE] the {word} is red"
                           for word in ("cat", "boat", "tree", "river", "bird", "lamp")],
                          padding=True, return_tensors="pt")
        with torch.no_grad():
            picked = model.generate(**probe, max_new_tokens=8, do_sample=False)[:, 3:].flatten()
            common = torch.bincount(picked[picked > 2]).argmax()
            model.lm_head.weight[1] = model.lm_head.weight[common] * 1.05
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    if grounding is not None:
        (directory / "grounding.json").write_text(json.dumps(grounding), encoding="utf-8")
    return directory
