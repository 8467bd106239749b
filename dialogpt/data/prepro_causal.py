"""The causal kind of the prepro build: a multi-turn TSV corpus -> a DialoGPT token DB.

Its step of the shared skeleton (:mod:`dialogpt.data.prepro_build`) is :func:`causal_plan`: the
GPT-2 tokenizer (or ``--tokenizer``), the feature rules' config (:mod:`dialogpt.data.pipeline`),
the build key and the manifest fields; its default DB name is :func:`db_path_for`.
"""

from __future__ import annotations

import os
from pathlib import Path

from dialogpt.data.prepro_build import BuildPlan, corpus_identity


def db_path_for(corpus: str | os.PathLike, max_seq_len: int, reverse: bool = False,
                two_turn: bool = False) -> Path:
    """``data/train.tsv`` -> ``data/train.128len[.reverse][.2turn].db`` (the original's names)."""
    corpus = Path(corpus)
    stem = corpus.name[:-len(".tsv")] if corpus.name.endswith(".tsv") else corpus.name
    attrs = [f"{max_seq_len}len"] + (["reverse"] if reverse else []) + (["2turn"] if two_turn
                                                                         else [])
    return corpus.with_name(".".join([stem, *attrs, "db"]))


def encoder_for(tokenizer_name: str | None):
    """``(encoder, tokenizer fingerprint)``. The default GPT-2 BPE goes straight to ``tiktoken``
    (no ``transformers`` import: start-up ~0.2 s instead of ~3 s); any other tokenizer is loaded
    with ``load_tokenizer``."""
    from dialogpt.tokenization import (DEFAULT_TOKENIZER, GPT2_FINGERPRINT, load_tokenizer,
                                       tokenizer_fingerprint)

    if (tokenizer_name or DEFAULT_TOKENIZER) == DEFAULT_TOKENIZER:
        from dialogpt.data.encoding import fast_gpt2_encoder

        encoder = fast_gpt2_encoder()
        if encoder is not None:
            return encoder, GPT2_FINGERPRINT
    from dialogpt.data.encoding import TurnEncoder

    tokenizer = load_tokenizer(tokenizer_name)
    return TurnEncoder(tokenizer), tokenizer_fingerprint(tokenizer)


def causal_plan(corpus: Path, *, tokenizer: str | None, max_seq_len: int, reverse: bool = False,
                two_turn: bool = False) -> BuildPlan:
    """The causal kind's step: ``tokenizer`` None is the offline GPT-2 BPE (``gpt2-bpe``)."""
    from dialogpt.data.db import FORMAT_VERSION, length_dtype_for, token_dtype_for
    from dialogpt.data.pipeline import FeatureConfig
    from dialogpt.tokenization import DEFAULT_TOKENIZER

    tokenizer = tokenizer or DEFAULT_TOKENIZER
    encoder, fingerprint = encoder_for(tokenizer)
    build_key = {"format_version": FORMAT_VERSION, **corpus_identity(corpus),
                 "max_seq_len": max_seq_len, "reverse": reverse, "two_turn": two_turn,
                 "tokenizer_fingerprint": fingerprint, "eos_id": encoder.eos_id}
    config = FeatureConfig(max_seq_len, reverse, two_turn, token_dtype_for(encoder.vocab_size),
                           length_dtype_for(max_seq_len))
    manifest = {"tokenizer": tokenizer, "tokenizer_fingerprint": fingerprint,
                "vocab_size": encoder.vocab_size, "eos_id": encoder.eos_id,
                "max_seq_len": max_seq_len, "reverse": reverse, "two_turn": two_turn}
    return BuildPlan("causal", encoder, config, build_key, manifest)
