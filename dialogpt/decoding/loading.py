"""Flags naming models and devices, and building a ``Decoder`` from a ``DecoderSpec`` (the
entry points parse it from their flags: ``dialogpt.decoding.decoder_config``).

Tokenizer resolution (``--tokenizer`` unset): a model directory with tokenizer files uses them; any
other local path (an HF directory without tokenizer files, a shipped config such as
``configs/117M``) uses the offline GPT-2 BPE; a Hugging Face Hub id uses its own tokenizer.
A seq2seq (GODEL/T5) model has no offline fallback: it needs its SentencePiece tokenizer.
The MMI backward model always shares the forward model's tokenizer (DialoGPT's both use GPT-2 BPE).

Seq2seq models also take the grounding flags (``Grounding``): the default instruction and
knowledge, and the source template (default: the one the checkpoint recorded, see
``grounded_source``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from dialogpt.cli import UserError
from dialogpt.config import flag
from dialogpt.decoding.dialogrpt import RANKERS
from dialogpt.gc_pause import gc_paused
from dialogpt.grounding import EMPATHIC_INSTRUCTION, GROUNDED_INSTRUCTION, TEMPLATES

logger = logging.getLogger(__name__)

_RANKING = "DialogRPT reranking"
_GROUNDING = "grounding (seq2seq / GODEL models)"


GODEL_HUB_MODELS = {"godel-base": "microsoft/GODEL-v1_1-base-seq2seq",
                    "godel-large": "microsoft/GODEL-v1_1-large-seq2seq"}


def resolve_tokenizer_source(model: str, tokenizer: str | None) -> str | None:
    """What ``load_tokenizer`` should load (``None`` = the offline GPT-2 BPE); see module doc."""
    from dialogpt.tokenization import has_tokenizer_files, missing_tokenizer_files

    if tokenizer:
        return tokenizer
    path = Path(model)
    missing = missing_tokenizer_files(path)
    if missing:
        raise UserError(f"--model {model}: its manifest.json lists tokenizer files that are "
                        f"gone: {', '.join(missing)}; copy them back (or pass --tokenizer DIR) "
                        "rather than decode with another tokenizer")
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
    """Load a causal or seq2seq LM for inference; its vocabulary must cover the tokenizer's."""
    import torch

    from dialogpt.modeling import is_seq2seq, local_architecture

    found = local_architecture(name)
    if found and found[2]:  # checked before loading; a Hub model after
        raise UserError(mmi_seq2seq_error(flag, name, found[0]))
    model = load_model_or_explain(name, init_checkpoint, flag)
    if is_seq2seq(model):
        raise UserError(mmi_seq2seq_error(flag, name, model.config.model_type))
    check_vocabulary(model, vocab_size, name, flag)
    model = model.to(device=device, dtype=torch.float16 if fp16 else torch.float32)
    return model.eval()


def mmi_seq2seq_error(flag: str, name: str, model_type: str) -> str:
    return (f"{flag} {name} is a seq2seq (GODEL, {model_type}) model: MMI scores candidates "
            "with a backward causal DialoGPT (GPT-2 trained on prepro.py --reverse data); pass "
            "one of those")


def load_model_or_explain(name: str, init_checkpoint: str | None, flag: str):
    """``load_model``, warning about random weights; a Hub id that cannot be reached says how to
    go on offline."""
    from dialogpt.modeling import has_weights, load_model

    try:
        model = load_model(name, init_checkpoint)
    except UserError as exc:
        if Path(name).exists() or "--local-dir" in str(exc) or "does not exist" in str(exc):
            raise
        from dialogpt.hub import download_command

        raise UserError(f"{flag} {name}: {exc} Offline, download it where a network exists "
                        f"({download_command(name)}) and pass {flag} DIR") from exc
    if not init_checkpoint and not has_weights(name) and Path(name).exists():
        logger.warning("%s %s has no weights and no --init_checkpoint was given: decoding with "
                       "RANDOM weights", flag, name)
    return model


def check_vocabulary(model, vocab_size: int, name: str, flag: str) -> None:
    if model.config.vocab_size < vocab_size:
        raise UserError(f"{flag} {name}: its vocabulary ({model.config.vocab_size}) is smaller "
                        f"than the tokenizer's ({vocab_size}); pass the matching --tokenizer")


@dataclass(frozen=True)
class DecoderSpec:
    """What ``load_decoder`` loads: the models, the device and the rankers; each field is also a
    flag of the decoding entry points (``dialogpt.decoding.decoder_config``)."""

    model: str = flag(help="model directory with weights, Hugging Face Hub id, or a shipped "
                      "config (configs/117M) together with --init_checkpoint", group="model")
    init_checkpoint: str | None = flag(None, "weights laid over --model: an original DialoGPT "
                                       ".pkl (small_ft.pkl), .safetensors/.bin file or HF "
                                       "directory", "model")
    tokenizer: str | None = flag(None, "tokenizer directory or Hub id; unset: the model "
                                 "directory's tokenizer files, else the offline GPT-2 BPE",
                                 "model")
    mmi_model: str | None = flag(None, "backward model (trained on prepro.py --reverse data) for "
                                 "MMI reranking of --num_candidates candidates; same forms as "
                                 "--model", "model")
    mmi_init_checkpoint: str | None = flag(None, "weights laid over --mmi_model (e.g. "
                                           "small_reverse.pkl)", "model")
    device: str = flag("auto", "torch device: auto (CUDA when available), cpu, cuda, cuda:1...",
                       "model")
    fp16: bool = flag(False, "run the models in float16 (CUDA only)", "model", kind=bool)
    quantize: str = flag("none", "int8: PyTorch dynamic int8 quantization of the model's linear "
                         "layers (CPU only; faster, slightly different numbers)", "model",
                         choices=("none", "int8"))
    ranker: str | None = flag(None, "rerank --num_candidates candidates with a DialogRPT model "
                              "(with --mmi_model too: MMI score + --ranker_weight * DialogRPT "
                              "logit)", _RANKING, choices=RANKERS)
    ranker_model: str | None = flag(None, "DialogRPT directory or Hub id (microsoft/DialogRPT-"
                                    "updown, -width, -depth, -human-vs-rand, -human-vs-machine)",
                                    _RANKING)
    ranker_weight: float = flag(1.0, "weight of the DialogRPT logit when combined with "
                                "--mmi_model", _RANKING, kind=float)


@dataclass(frozen=True)
class Grounding:
    """How a seq2seq (GODEL) model's source is formed; a causal model refuses --instruction and
    --knowledge. Each field is also a flag of the decoding entry points."""

    instruction: str | None = flag(None, "instruction steering the response (default: the one "
                                   "the checkpoint was trained with, else none). The cards use "
                                   f"{EMPATHIC_INSTRUCTION!r} and {GROUNDED_INSTRUCTION!r}",
                                   _GROUNDING)
    knowledge: str = flag("", "text the response should draw on (empty: none)", _GROUNDING)
    template: str | None = flag(None, "how instruction, knowledge and turns form the source "
                                "(grounded.md §2); default: the template the checkpoint records, "
                                "else card. Overriding a recorded template is announced",
                                _GROUNDING, choices=TEMPLATES)


def load_decoder(spec: DecoderSpec, options, preset: str | None = None,
                 grounding: Grounding = Grounding()):
    """A ``Decoder`` for ``spec`` decoding with ``options`` (``DecodingOptions``) and, for a
    seq2seq model, ``grounding``; ``preset`` (``--preset``'s name) only words the warning about
    settings the method ignores.

    Seeds torch (sampling) when ``options.seed`` is non-negative. Loads with the cyclic collector
    paused (``gc_paused``).
    """
    with gc_paused(keep_frozen=True):
        return _load_decoder(spec, options, preset, grounding)


def _load_decoder(spec: DecoderSpec, options, preset: str | None, grounding: Grounding):
    import torch

    from dialogpt.decoding.generation import MMI_SEQ2SEQ_ERROR, Decoder
    from dialogpt.decoding.options import OptionError, ignored_flags
    from dialogpt.modeling import is_seq2seq
    from dialogpt.tokenization import load_tokenizer

    reranking = spec.mmi_model is not None or spec.ranker is not None
    options.candidate_count(reranking)
    ignored = ignored_flags(options, reranking, preset)
    if ignored:
        logger.warning("ignored flags with --decoding %s: %s", options.decoding, "; ".join(ignored))
    device = resolve_device(spec.device)
    if spec.fp16 and device.type != "cuda":
        raise UserError("--fp16 needs a CUDA device (float16 on CPU is slow and inaccurate)")
    if options.seed >= 0:
        torch.manual_seed(options.seed)
    model = load_model_or_explain(spec.model, spec.init_checkpoint, "--model")
    source = resolve_tokenizer_source(spec.model, spec.tokenizer)
    if is_seq2seq(model):
        if spec.mmi_model or spec.ranker:
            raise OptionError(MMI_SEQ2SEQ_ERROR)
        if source is None:
            raise UserError(f"--model {spec.model} is a seq2seq (T5/GODEL) model without "
                            "tokenizer files: pass its SentencePiece tokenizer with --tokenizer "
                            "DIR (e.g. the one train_t5_tokenizer or the data stage wrote)")
    tokenizer = load_tokenizer(source)
    check_vocabulary(model, len(tokenizer), spec.model, "--model")
    model = model.to(device=device, dtype=torch.float16 if spec.fp16 else torch.float32).eval()
    if spec.quantize == "int8":
        if device.type != "cpu" or spec.fp16:
            raise UserError("--quantize int8 runs on the CPU in float32: drop --fp16 and pass "
                            "--device cpu")
        from dialogpt.decoding.quantize import quantize_int8

        model = quantize_int8(model)
    if not is_seq2seq(model):
        ranker = _causal_ranker(spec, grounding, options, tokenizer, device)
        return Decoder(model, tokenizer, options, ranker)
    from dialogpt.decoding.grounded_source import source_settings

    sources = source_settings(spec.model, spec.init_checkpoint, grounding.template,
                              grounding.instruction, grounding.knowledge,
                              options.max_context_tokens, tokenizer)
    return Decoder(model, tokenizer, options, sources=sources)


def _causal_ranker(spec: DecoderSpec, grounding: Grounding, options, tokenizer, device):
    """The MMI ranker for ``--mmi_model`` (None without it); the grounding flags must be unset."""
    from dialogpt.decoding.generation import KNOWLEDGE_CAUSAL_ERROR
    from dialogpt.decoding.rerank import MMIRanker

    if grounding.knowledge or grounding.instruction:
        raise UserError(f"--knowledge/--instruction: {KNOWLEDGE_CAUSAL_ERROR}")
    if grounding.template:
        logger.warning("--template is ignored: %s is a causal model, whose context is the dialog "
                       "turns only", spec.model)
    ranker = None
    if spec.mmi_model:
        reverse = load_decoding_model(spec.mmi_model, spec.mmi_init_checkpoint, device, spec.fp16,
                                      len(tokenizer), "--mmi_model")
        ranker = MMIRanker(reverse, tokenizer, max_source_turns=options.mmi_source_turns)
    from dialogpt.decoding.dialogrpt import build_ranker

    return build_ranker(ranker, spec.ranker, spec.ranker_model, spec.ranker_weight, device,
                        spec.fp16)
