"""Tiny models with weights the repository owns, saved as ``--model`` directories.

Every tensor comes from :func:`seeded_init_`, our own seeded generator, never from transformers'
``_init_weights`` (whose distributions change between releases: T5's did in 5.25), so numbers
pinned on these models move only when our code, the model's forward pass or the data change.

The decoding and serving models use a large standard deviation so that greedy continuations of
random weights vary (with 0.02 a random model repeats one token forever, which would hide batching
bugs).
"""

from __future__ import annotations

import json
from pathlib import Path

TINY_POSITIONS = 64
T5_STD, T5_EMBEDDING_STD = 1.0, 5.0   # large: greedy replies vary with the source
REPO_ROOT = Path(__file__).resolve().parents[1]


def seeded_init_(model, seed: int, std=0.02, embedding_std: float | None = None):
    """Overwrite every parameter of ``model`` from ``torch.Generator().manual_seed(seed)``.

    Parameters are visited once each (tied ones under the smallest of their names) in sorted name
    order and drawn in that order: tensors of two or more dimensions (linear, Conv1D, embedding
    and relative-position tables) ~ N(0, ``std``^2) (``std`` a number, or a function of the
    parameter's name such as :func:`t5_scales`), ``*embed_tokens*``/``shared``/``wte`` tables
    ~ N(0, ``embedding_std``^2) when given; 1-D ``*bias`` = 0; other 1-D tensors (LayerNorm/T5
    RMS-norm scales) = 1. Draws are float64 standard normals, scaled, then stored in the
    parameter's dtype. Buffers are left alone. Returns ``model``.
    """
    import torch

    names: dict[int, list[str]] = {}
    params = {}
    for name, param in model.named_parameters(remove_duplicate=False):
        names.setdefault(id(param), []).append(name)
        params[id(param)] = param
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for key in sorted(names, key=lambda k: min(names[k])):
            name, param = min(names[key]), params[key]
            if param.dim() >= 2:
                embedding = name.endswith(("shared.weight", "embed_tokens.weight", "wte.weight"))
                scale = embedding_std if embedding and embedding_std is not None else std
                scale = scale(name) if callable(scale) else scale
                values = torch.randn(param.shape, generator=generator, dtype=torch.float64)
                param.copy_(values * scale)
            elif name.endswith("bias"):
                param.zero_()
            else:
                param.fill_(1.0)
    return model


def t5_scales(config):
    """T5's own scheme (Mesh TensorFlow's, initializer_factor 1) as a ``std`` for
    :func:`seeded_init_`: embeddings and the LM head 1; q (d_model * d_kv)^-1/2; o
    (heads * d_kv)^-1/2; wo d_ff^-1/2; k, v, wi and relative-position tables d_model^-1/2."""
    d_model, d_kv, heads, d_ff = config.d_model, config.d_kv, config.num_heads, config.d_ff

    def std(name: str) -> float:
        if name.endswith(("shared.weight", "embed_tokens.weight", "lm_head.weight")):
            return 1.0
        if name.endswith(".q.weight"):
            return (d_model * d_kv) ** -0.5
        if name.endswith(".o.weight"):
            return (heads * d_kv) ** -0.5
        if name.endswith(".wo.weight"):
            return d_ff ** -0.5
        return d_model ** -0.5

    return std


def model_from_config(config, seed: int, std=0.02, embedding_std: float | None = None):
    """The model for ``config`` (a ``PretrainedConfig`` or a config path such as
    ``configs/tiny``) with :func:`seeded_init_` weights, in eval mode; ``std="t5"`` takes
    :func:`t5_scales` of the config."""
    from dialogpt.modeling import model_class, read_model_config

    if not hasattr(config, "model_type"):
        config = read_model_config(Path(config))
    std = t5_scales(config) if std == "t5" else std
    model = model_class(config).from_config(config)
    return seeded_init_(model, seed, std, embedding_std).eval()


def save_seeded_checkpoint(config, directory: Path, seed: int, std=0.02,
                           embedding_std: float | None = None) -> Path:
    """:func:`model_from_config` saved as a model directory (weights and config, no tokenizer:
    training then takes the token DB's), to train or decode from instead of the bare config."""
    model_from_config(config, seed, std, embedding_std).save_pretrained(directory)
    return directory


def save_tiny_gpt2(directory: Path, seed: int, n_positions: int = TINY_POSITIONS) -> Path:
    """A 2-layer, 32-wide GPT-2 with the real vocabulary, plus the tokenizer, in ``directory``."""
    from transformers import GPT2Config, GPT2LMHeadModel

    from dialogpt.tokenization import load_tokenizer

    config = GPT2Config(n_embd=32, n_layer=2, n_head=2, n_positions=n_positions)
    seeded_init_(GPT2LMHeadModel(config), seed, std=0.3).save_pretrained(directory)
    load_tokenizer().save_pretrained(directory)
    return directory


def save_tiny_t5(directory: Path, tokenizer_dir: Path, seed: int = 1,
                 grounding: dict | None = None, ends_early: bool = False) -> Path:
    """``configs/t5-tiny`` with the tokenizer's vocabulary size (rounded up to 64) and large
    seeded weights, saved with the tokenizer (the shared ``t5_tokenizer_dir``) and an optional
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
    model = seeded_init_(T5ForConditionalGeneration(config), seed, std=T5_STD,
                         embedding_std=T5_EMBEDDING_STD).eval()
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


def zero_library_init(setattr_=setattr) -> None:
    """Make transformers initialise every new model to zeros: ``_init_weights`` of
    ``PreTrainedModel`` and of every model class that overrides it (GPT-2's, T5's, ...) zeroes the
    module's own parameters instead (those not loaded from a checkpoint). Pass
    ``monkeypatch.setattr`` to undo it after a test.

    Numbers pinned on :func:`seeded_init_` weights must not move under it (tests/training/
    test_pinned_weights.py; ``DIALOGPT_TEST_LIBRARY_INIT=zeros`` applies it to a whole run).
    """
    import torch
    import transformers.models.bart.modeling_bart  # noqa: F401  (the model classes the tests
    import transformers.models.gpt2.modeling_gpt2  # noqa: F401   build, so that their
    import transformers.models.t5.modeling_t5  # noqa: F401       overrides are patched too)
    from transformers import PreTrainedModel
    from transformers import initialization

    def zeros(self, module):
        # transformers' own guarded zeros_, as its _init_weights uses: tensors that
        # from_pretrained has just loaded are flagged and left alone
        with torch.no_grad():
            for param in module.parameters(recurse=False):
                initialization.zeros_(param)

    pending, seen = [PreTrainedModel], set()
    while pending:
        cls = pending.pop()
        if cls in seen:
            continue
        seen.add(cls)
        pending.extend(cls.__subclasses__())
        if "_init_weights" in vars(cls):
            setattr_(cls, "_init_weights", zeros)
