"""The demo's calls into the library, with configs instead of command lines: prepro's build
(``PreproConfig``), batch decoding (``DecoderSpec`` and ``DecodingOptions``) and scoring.
Training is ``dialogpt.demo.training``. Each does what the tool's command would, in-process."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dialogpt.cli import UserError


def build_db(**fields: Any) -> Path:
    """``prepro.py``'s build with ``PreproConfig`` fields (``corpus=...``, the other fields at
    their flags' defaults); returns the DB's path."""
    from dialogpt.data.prepro import build
    from dialogpt.data.prepro_config import PreproConfig

    config = PreproConfig(**fields)
    config.validate()
    rc = build(config)
    if rc:
        raise UserError(f"prepro failed on {config.corpus} (exit {rc})")
    return config.db_path()


def decode_file(model: str, input_path: Path | str, output_path: Path | str, *,
                tokenizer: str | None = None, mmi_model: str | None = None, batch_size: int = 0,
                **options: Any) -> None:
    """``generate.py --model MODEL --input INPUT --output OUTPUT`` (``--tokenizer``,
    ``--mmi_model``, ``--batch_size``; ``options``: ``DecodingOptions`` fields such as
    ``decoding="greedy", max_length=30``, the others at generate.py's defaults)."""
    from dialogpt.decoding.generate_cli import generate_file
    from dialogpt.decoding.loading import DecoderSpec
    from dialogpt.decoding.options import DecodingOptions

    spec = DecoderSpec(model=model, tokenizer=tokenizer, mmi_model=mmi_model)
    generate_file(spec, DecodingOptions(**options), str(input_path), str(output_path),
                  batch_size=batch_size)
