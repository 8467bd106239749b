"""Flags naming models and devices, and building a ``Decoder`` from parsed flags.

Tokenizer resolution (``--tokenizer`` unset): a model directory with tokenizer files uses them; any
other local path (an HF directory without tokenizer files, a shipped config such as
``configs/117M``) uses the offline GPT-2 BPE; a Hugging Face Hub id uses its own tokenizer.
The MMI backward model always shares the forward model's tokenizer (DialoGPT's both use GPT-2 BPE).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from dialogpt.cli import UserError, add_bool_flag

logger = logging.getLogger(__name__)


def add_model_args(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("model")
    group.add_argument("--model", required=True,
                       help="model directory with weights, Hugging Face Hub id, or a shipped "
                            "config (configs/117M) together with --init_checkpoint")
    group.add_argument("--init_checkpoint", default=None,
                       help="weights laid over --model: an original DialoGPT .pkl "
                            "(small_ft.pkl), .safetensors/.bin file or HF directory")
    group.add_argument("--tokenizer", default=None,
                       help="tokenizer directory or Hub id; unset: the model directory's "
                            "tokenizer files, else the offline GPT-2 BPE")
    group.add_argument("--mmi_model", default=None,
                       help="backward model (trained on prepro.py --reverse data) for MMI "
                            "reranking of --num_candidates candidates; same forms as --model")
    group.add_argument("--mmi_init_checkpoint", default=None,
                       help="weights laid over --mmi_model (e.g. small_reverse.pkl)")
    group.add_argument("--device", default="auto",
                       help="torch device: auto (CUDA when available), cpu, cuda, cuda:1...")
    add_bool_flag(group, "--fp16", False, "run the models in float16 (CUDA only)")


def resolve_tokenizer_source(model: str, tokenizer: str | None) -> str | None:
    """What ``load_tokenizer`` should load (``None`` = the offline GPT-2 BPE); see module doc."""
    from dialogpt.tokenization import has_tokenizer_files

    if tokenizer:
        return tokenizer
    path = Path(model)
    if has_tokenizer_files(path):
        return str(path)
    if path.exists():
        return None
    return model


def resolve_device(name: str):
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as exc:
        raise UserError(f"--device {name!r} is not a torch device: {exc}") from exc
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UserError(f"--device {name}: CUDA is not available on this machine")
    return device


def load_decoding_model(name: str, init_checkpoint: str | None, device, fp16: bool, vocab_size: int,
                        flag: str):
    """Load a causal LM for inference; its vocabulary must cover the tokenizer's."""
    import torch

    from dialogpt.modeling import has_weights, load_model

    model = load_model(name, init_checkpoint)
    if not init_checkpoint and not has_weights(name) and Path(name).exists():
        logger.warning("%s %s has no weights and no --init_checkpoint was given: decoding with "
                       "RANDOM weights", flag, name)
    if model.config.vocab_size < vocab_size:
        raise UserError(f"{flag} {name}: its vocabulary ({model.config.vocab_size}) is smaller "
                        f"than the tokenizer's ({vocab_size}); pass the matching --tokenizer")
    model = model.to(device=device, dtype=torch.float16 if fp16 else torch.float32)
    return model.eval()


def load_decoder(args: argparse.Namespace):
    """A ``Decoder`` for parsed ``add_model_args`` + ``add_decoding_args`` flags.

    Seeds torch (sampling) when ``--seed`` is non-negative.
    """
    import torch

    from dialogpt.decoding.generation import Decoder
    from dialogpt.decoding.options import DecodingOptions
    from dialogpt.decoding.rerank import MMIRanker
    from dialogpt.tokenization import load_tokenizer

    options = DecodingOptions.from_args(args)
    options.candidate_count(args.mmi_model is not None)
    from dialogpt.decoding.options import ignored_flags

    ignored = ignored_flags(options, args.mmi_model is not None, getattr(args, "preset", None))
    if ignored:
        logger.warning("ignored flags with --decoding %s: %s", options.decoding, "; ".join(ignored))
    device = resolve_device(args.device)
    if args.fp16 and device.type != "cuda":
        raise UserError("--fp16 needs a CUDA device (float16 on CPU is slow and inaccurate)")
    if options.seed >= 0:
        torch.manual_seed(options.seed)
    tokenizer = load_tokenizer(resolve_tokenizer_source(args.model, args.tokenizer))
    model = load_decoding_model(args.model, args.init_checkpoint, device, args.fp16,
                                len(tokenizer), "--model")
    ranker = None
    if args.mmi_model:
        reverse = load_decoding_model(args.mmi_model, args.mmi_init_checkpoint, device, args.fp16,
                                      len(tokenizer), "--mmi_model")
        ranker = MMIRanker(reverse, tokenizer, max_source_turns=options.mmi_source_turns)
    return Decoder(model, tokenizer, options, ranker)
