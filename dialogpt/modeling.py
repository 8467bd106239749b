"""Model configs and loading, including the original DialoGPT checkpoints.

``--model_name_or_path`` takes
- a directory holding weights (``model.safetensors`` or ``pytorch_model.bin``): ``from_pretrained``;
- a directory or ``.json`` file holding only a model config (``configs/117M``): a fresh model;
- anything else: a Hugging Face Hub id (``microsoft/DialoGPT-small``, ``gpt2``,
  ``microsoft/GODEL-v1_1-base-seq2seq``).

The model kind follows the config: an encoder-decoder config (``is_encoder_decoder``: T5, BART;
GODEL) gives an ``AutoModelForSeq2SeqLM``, anything else an ``AutoModelForCausalLM`` (DialoGPT).

``--init_checkpoint`` then overlays weights from an HF directory, a ``.safetensors`` or ``.bin``
file, or an original DialoGPT ``.pkl`` (``GP2-pretrain-step-N.pkl``, ``small_ft.pkl``).
Pickles are always read with ``torch.load(weights_only=True)``: one that carries code is refused.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any, Mapping

from dialogpt.cli import UserError
from dialogpt.fileio import verify_manifest

logger = logging.getLogger(__name__)

WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin",
                "pytorch_model.bin.index.json")
_CAUSAL_MASK_BUFFERS = (".attn.bias", ".attn.masked_bias")


def has_weights(path: str | os.PathLike) -> bool:
    path = Path(path)
    return path.is_dir() and any((path / name).exists() for name in WEIGHT_FILES)


def is_seq2seq(config_or_model) -> bool:
    """True for encoder-decoder models and configs (T5, BART: GODEL), False for causal LMs."""
    config = getattr(config_or_model, "config", config_or_model)
    return bool(getattr(config, "is_encoder_decoder", False))


def _seq2seq_config(model_type: str, overrides: dict[str, Any], file: Path):
    from transformers import CONFIG_MAPPING

    if model_type not in ("t5", "bart"):
        raise UserError(f"model config {file}: model_type {model_type!r} is not supported for "
                        "training from scratch (gpt2, t5 and bart are; use a directory with "
                        "weights instead)")
    config_class = CONFIG_MAPPING[model_type]
    unknown = set(overrides) - set(config_class().to_dict()) - {"decoder_start_token_id"}
    if unknown:
        raise UserError(f"model config {file}: unknown {model_type} config keys {sorted(unknown)}")
    config = config_class(**overrides)
    if getattr(config, "decoder_start_token_id", None) is None:
        # T5 starts decoding from its pad token; the published T5/GODEL configs say so explicitly.
        config.decoder_start_token_id = config.pad_token_id
    return config


def local_architecture(path: str | os.PathLike) -> tuple[str, list[str], bool] | None:
    """``(model_type, architectures, is_encoder_decoder)`` from a local directory's
    ``config.json``, read as plain JSON before anything loads (``None``: not a local directory
    with a readable config), so a model of the wrong kind is refused in one line."""
    file = Path(path) / "config.json"
    try:
        raw = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(raw, dict):
        return None
    model_type = str(raw.get("model_type", "gpt2"))
    seq2seq = bool(raw.get("is_encoder_decoder", model_type in ("t5", "bart", "mt5")))
    return model_type, [str(name) for name in raw.get("architectures") or []], seq2seq


def read_model_config(path: str | os.PathLike):
    """Build a model config from a shipped config (a directory with ``config.json`` or a file).

    Shipped configs hold overrides of the defaults of ``GPT2Config`` (``model_type`` gpt2, the
    default), ``T5Config`` (t5) or ``BartConfig`` (bart); keys starting with ``_`` (such as
    ``_usage``, the command that uses the file) are documentation and are dropped.
    """
    from transformers import GPT2Config

    path = Path(path)
    file = path / "config.json" if path.is_dir() else path
    try:
        raw = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise UserError(f"cannot read model config {file}: {exc}") from exc
    if not isinstance(raw, dict):
        raise UserError(f"model config {file} must be a JSON object")
    overrides = {key: value for key, value in raw.items() if not key.startswith("_")}
    model_type = overrides.pop("model_type", "gpt2")
    if model_type != "gpt2":
        return _seq2seq_config(model_type, overrides, file)
    unknown = set(overrides) - set(GPT2Config().to_dict())
    if unknown:
        raise UserError(f"model config {file}: unknown GPT-2 config keys {sorted(unknown)}")
    config = GPT2Config(**overrides)
    if config.n_embd % config.n_head:
        raise UserError(f"model config {file}: n_embd={config.n_embd} is not divisible by "
                        f"n_head={config.n_head}")
    return config


def convert_original_state_dict(state_dict: Mapping[str, Any]) -> dict[str, Any]:
    """Map an original DialoGPT / GPT-2 state dict onto ``GPT2LMHeadModel``'s key names.

    - strip the ``module.`` prefix that DataParallel/DDP training left;
    - rename ``lm_head.decoder.weight`` (the original's tied head) to ``lm_head.weight``;
    - drop the causal-mask buffers ``attn.bias`` / ``attn.masked_bias`` (recomputed by the model);
    - a state dict without ``transformer.`` keys is a bare GPT-2 body: prefix it.
    """
    converted: dict[str, Any] = {}
    for key, value in state_dict.items():
        if key.startswith("module."):
            key = key[len("module."):]
        if key.endswith(_CAUSAL_MASK_BUFFERS):
            continue
        if key == "lm_head.decoder.weight":
            key = "lm_head.weight"
        converted[key] = value
    if not any(key.startswith("transformer.") for key in converted):
        converted = {(key if key.startswith("lm_head.") else f"transformer.{key}"): value
                     for key, value in converted.items()}
    return converted


_DAMAGED_REMEDY = "copy or download it again, or use another checkpoint"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0] if text else ''}"


def pickle_refusal(path: str | os.PathLike, exc: BaseException) -> UserError:
    """The refusal of a pickle that holds more than tensors. Quotes only what torch found (the
    blocked global), never torch's advice to re-run with ``weights_only=False``: that runs code."""
    found = [line.strip() for line in str(exc).splitlines()
             if "GLOBAL" in line or "Unsupported" in line or "WeightsUnpickler" in line]
    found = [line for line in found if "weights_only" not in line]
    return UserError(f"refusing to load {path}: it contains objects other than tensors (a pickle "
                     "can run code; only plain weights are accepted)"
                     + (f". Found: {found[0]}" if found else "")
                     + ". Get the weights as .safetensors, or convert them on a machine you "
                       "trust (convert_checkpoint.py)")


def check_finite(model, source: str | os.PathLike) -> None:
    """Refuse weights holding NaN or infinity (a run that diverged): they decode into garbage.

    A finite sum proves every value finite (NaN and infinity propagate) in one pass without a
    mask the size of the model; only a sum that is not (an overflow?) is checked value by value.
    """
    import torch

    for name, tensor in model.state_dict().items():
        if (tensor.is_floating_point() and not bool(torch.isfinite(tensor.sum()))
                and not bool(torch.isfinite(tensor).all())):
            raise UserError(f"{source}: weight {name} holds NaN or infinite values (the run that "
                            "wrote it diverged); use an earlier checkpoint")


def _from_pretrained(cls, name: str, attn_implementation: str):
    """``cls.from_pretrained`` on a local directory, checked against its MANIFEST first; a
    damaged file or a refused pickle ends in a ``UserError`` naming the file."""
    import pickle

    path = Path(name)
    verify_manifest(path, only=[*WEIGHT_FILES, "config.json"], remedy=_DAMAGED_REMEDY)
    try:
        return cls.from_pretrained(name, attn_implementation=attn_implementation)
    except pickle.UnpicklingError as exc:
        raise pickle_refusal(path / "pytorch_model.bin", exc) from None
    except UserError:
        raise
    except Exception as exc:  # safetensors, torch and OS errors: a damaged file
        files = [n for n in WEIGHT_FILES if (path / n).exists()]
        raise UserError(f"cannot load the weights in {path} ({', '.join(files)}): "
                        f"{_first_line(exc)}; a file is damaged or truncated: "
                        f"{_DAMAGED_REMEDY}") from exc


def load_state_dict_file(path: str | os.PathLike) -> dict[str, Any]:
    """Read weights from ``.safetensors``, an HF directory, or a ``.bin``/``.pt``/``.pkl`` pickle.

    Pickles are loaded with ``weights_only=True``: one containing anything but tensors and plain
    containers (e.g. code, custom classes) is refused with an error saying so.
    """
    import pickle

    import torch

    path = Path(path)
    if path.is_dir():
        for name in ("model.safetensors", "pytorch_model.bin"):
            if (path / name).exists():
                return load_state_dict_file(path / name)
        raise UserError(f"{path} is a directory without model.safetensors or pytorch_model.bin")
    if not path.exists():
        raise UserError(f"checkpoint {path} does not exist")
    verify_manifest(path.parent, only=[path.name], remedy=_DAMAGED_REMEDY)
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file
        try:
            return load_file(str(path))
        except Exception as exc:  # SafetensorError and OSError: a damaged or truncated file
            raise UserError(f"cannot read {path}: {_first_line(exc)}; the file is damaged or "
                            f"truncated: {_DAMAGED_REMEDY}") from exc
    try:
        state = torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise pickle_refusal(path, exc) from None
    except (RuntimeError, EOFError, OSError) as exc:
        raise UserError(f"cannot read checkpoint {path}: {_first_line(exc)}; the file is damaged "
                        f"or truncated: {_DAMAGED_REMEDY}") from exc
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise UserError(f"{path} does not hold a state dict of tensors")
    return state


def load_weights_into(model, checkpoint: str | os.PathLike) -> None:
    """Overlay ``checkpoint`` onto ``model``; every model parameter must be covered."""
    state = load_state_dict_file(checkpoint)
    if is_seq2seq(model):
        state = {key.removeprefix("module."): value for key, value in state.items()}
    else:
        state = convert_original_state_dict(state)
    expected = set(model.state_dict())
    if "lm_head.weight" not in state and getattr(model.config, "tie_word_embeddings", True):
        state.pop("lm_head.weight", None)
        expected.discard("lm_head.weight")
    missing = sorted(expected - set(state))
    unexpected = sorted(set(state) - expected)
    if missing or unexpected:
        raise UserError(f"checkpoint {checkpoint} does not fit the model: missing "
                        f"{missing[:5]}{'...' if len(missing) > 5 else ''}, unexpected "
                        f"{unexpected[:5]}{'...' if len(unexpected) > 5 else ''}")
    for key, tensor in state.items():
        target = model.state_dict()[key]
        if tuple(tensor.shape) != tuple(target.shape):
            raise UserError(f"checkpoint {checkpoint}: {key} has shape {tuple(tensor.shape)}, "
                            f"the model expects {tuple(target.shape)}")
    model.load_state_dict(state, strict=False)
    model.tie_weights()
    logger.info("loaded weights from %s", checkpoint)


def model_class(config):
    """``AutoModelForSeq2SeqLM`` for an encoder-decoder config, else ``AutoModelForCausalLM``."""
    from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM

    return AutoModelForSeq2SeqLM if is_seq2seq(config) else AutoModelForCausalLM


def load_model(name_or_path: str | os.PathLike, init_checkpoint: str | os.PathLike | None = None,
               attn_implementation: str = "sdpa"):
    """Return a causal LM (DialoGPT) or a seq2seq LM (GODEL), as the config says.

    See the module docstring for what ``name_or_path`` may be.
    """
    from transformers import AutoConfig

    name = str(name_or_path)
    path = Path(name)
    if has_weights(path):
        config = AutoConfig.from_pretrained(name)
        model = _from_pretrained(model_class(config), name, attn_implementation)
    elif path.is_file() or (path.is_dir() and (path / "config.json").exists()):
        config = read_model_config(path)
        config._attn_implementation = attn_implementation
        model = model_class(config).from_config(config, attn_implementation=attn_implementation)
    elif path.exists():
        raise UserError(f"{path} has neither weights ({', '.join(WEIGHT_FILES[::2])}) nor a "
                        "config.json")
    else:
        from dialogpt.hub import check_hub_id, offline_error

        offline = check_hub_id(name, "model")  # a missing local path or no network: fail fast
        try:
            config = AutoConfig.from_pretrained(name)
            model = model_class(config).from_pretrained(name,
                                                        attn_implementation=attn_implementation)
        except Exception as exc:  # hub and network errors come in many types
            if offline:
                raise offline_error(name, "model", offline) from None
            raise UserError(f"could not load model {name!r}: not a local directory, and loading it "
                            f"from the Hugging Face Hub failed ({type(exc).__name__}: "
                            f"{str(exc).splitlines()[0] if str(exc) else ''}). Pass a local "
                            "directory or a shipped config such as configs/117M.") from exc
    if init_checkpoint:
        load_weights_into(model, init_checkpoint)
    if init_checkpoint or not path.exists() or has_weights(path):
        check_finite(model, init_checkpoint or name)
    return model
