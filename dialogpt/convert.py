"""Convert an original DialoGPT checkpoint (``.pkl``) into a Hugging Face model directory.

    python convert_checkpoint.py --checkpoint small_ft.pkl --config configs/117M --output_dir models/small

The directory holds ``model.safetensors``, ``config.json`` and the tokenizer, so
``AutoModelForCausalLM.from_pretrained`` / ``AutoTokenizer.from_pretrained`` load it, and every
entry point of this toolkit takes it as ``--model_name_or_path`` / ``--model``.
"""

from __future__ import annotations

from pathlib import Path

from dialogpt.cli import (UserError, add_bool_flag, check_paths, make_parser, run_main,
                          setup_logging)


def build_parser():
    parser = make_parser("convert_checkpoint.py", __doc__)
    parser.add_argument("--checkpoint", required=True,
                        help="original checkpoint: .pkl/.bin (pickled state dict) or .safetensors")
    parser.add_argument("--config", default="configs/117M",
                        help="model config matching the checkpoint: a shipped config directory "
                             "(configs/117M, configs/345M, configs/762M), a config.json, or an HF "
                             "model directory")
    parser.add_argument("--tokenizer", default=None,
                        help="tokenizer directory or Hub id saved next to the weights "
                             "(default: the offline real GPT-2 BPE, identical to DialoGPT's)")
    parser.add_argument("--output_dir", required=True, help="HF model directory to write")
    add_bool_flag(parser, "--force", False, "replace an existing output directory")
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging()
    source = {"--checkpoint": args.checkpoint}
    check_paths(input_dirs=source if Path(args.checkpoint).is_dir() else None,
                input_files=None if Path(args.checkpoint).is_dir() else source,
                output_dirs={"--output_dir": args.output_dir})

    from dialogpt.fileio import atomic_dir, write_manifest
    from dialogpt.modeling import load_model
    from dialogpt.tokenization import load_tokenizer

    model = load_model(args.config, init_checkpoint=args.checkpoint)
    tokenizer = load_tokenizer(args.tokenizer)
    if len(tokenizer) > model.config.vocab_size:
        raise UserError(f"tokenizer has {len(tokenizer)} tokens but the model only "
                        f"{model.config.vocab_size}")
    try:
        with atomic_dir(args.output_dir, overwrite=args.force) as tmp:
            model.save_pretrained(tmp, safe_serialization=True)
            tokenizer.save_pretrained(tmp)
            write_manifest(tmp)  # sizes and sha256: loaders detect a damaged copy
    except FileExistsError as exc:
        raise UserError(f"{args.output_dir} exists; pass --force to replace it") from exc
    print(f"wrote {args.output_dir} ({sum(p.numel() for p in model.parameters()):,} parameters)")
    return 0


def console_main() -> int:
    """The ``dialogpt-convert`` console script: :func:`main` through ``run_main``, so a bad
    command ends in one ``error:`` line (exit 2), never a traceback."""
    return run_main(main)


if __name__ == "__main__":
    raise SystemExit(console_main())
