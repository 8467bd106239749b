"""Convert an original DialoGPT checkpoint (``.pkl``) into a Hugging Face model directory.

    python convert_checkpoint.py --checkpoint small_ft.pkl --config configs/117M --output_dir models/small

The directory holds ``model.safetensors``, ``config.json`` and the tokenizer, so
``AutoModelForCausalLM.from_pretrained`` / ``AutoTokenizer.from_pretrained`` load it, and every
entry point of this toolkit takes it as ``--model_name_or_path`` / ``--model``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dialogpt.cli import UserError, check_paths, run_main, setup_logging
from dialogpt.config import build_parser as build_config_parser
from dialogpt.config import flag, parse_config


@dataclass(kw_only=True)
class CheckpointConfig:
    """One conversion: ``checkpoint`` (with its model ``config``) -> ``output_dir``."""

    checkpoint: str = flag(help="original checkpoint: .pkl/.bin (pickled state dict) or "
                           ".safetensors")
    config: str = flag("configs/117M", "model config matching the checkpoint: a shipped config "
                       "directory (configs/117M, configs/345M, configs/762M), a config.json, or "
                       "an HF model directory")
    tokenizer: str | None = flag(None, "tokenizer directory or Hub id saved next to the weights "
                                 "(default: the offline real GPT-2 BPE, identical to DialoGPT's)")
    output_dir: str = flag(help="HF model directory to write")
    force: bool = flag(False, "replace an existing output directory", kind=bool)


def build_parser():
    return build_config_parser(CheckpointConfig, "convert_checkpoint.py", __doc__)


def main(argv=None) -> int:
    config = parse_config(CheckpointConfig, build_parser(), argv)
    setup_logging()
    source = {"--checkpoint": config.checkpoint}
    is_dir = Path(config.checkpoint).is_dir()
    check_paths(input_dirs=source if is_dir else None, input_files=None if is_dir else source,
                output_dirs={"--output_dir": config.output_dir})

    from dialogpt.fileio import atomic_dir, write_manifest
    from dialogpt.modeling import load_model
    from dialogpt.tokenization import load_tokenizer

    model = load_model(config.config, init_checkpoint=config.checkpoint)
    tokenizer = load_tokenizer(config.tokenizer)
    if len(tokenizer) > model.config.vocab_size:
        raise UserError(f"tokenizer has {len(tokenizer)} tokens but the model only "
                        f"{model.config.vocab_size}")
    try:
        with atomic_dir(config.output_dir, overwrite=config.force) as tmp:
            model.save_pretrained(tmp, safe_serialization=True)
            tokenizer.save_pretrained(tmp)
            write_manifest(tmp)  # sizes and sha256: loaders detect a damaged copy
    except FileExistsError as exc:
        raise UserError(f"{config.output_dir} exists; pass --force to replace it") from exc
    print(f"wrote {config.output_dir} ({sum(p.numel() for p in model.parameters()):,} parameters)")
    return 0


def console_main() -> int:
    """The ``dialogpt-convert`` console script: :func:`main` through ``run_main``, so a bad
    command ends in one ``error:`` line (exit 2), never a traceback."""
    return run_main(main)


if __name__ == "__main__":
    raise SystemExit(console_main())
