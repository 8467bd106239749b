"""The demo's calls into the library, with configs instead of command lines: prepro's build
(``PreproConfig``), batch decoding (``DecoderSpec`` and ``DecodingOptions``) and scoring
(``EvalConfig``).
Training is ``dialogpt.demo.training``. Each does what the tool's command would, in-process."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dialogpt.cli import UserError

HELDOUT_SCORING = {"format": "plain", "clean": True, "n_refs": 1, "vshuman": -1}
"""How the dialog demo (and ``--mmi``) scores held-out responses: ``score_file`` fields for one
plain reference per line, cleaned like the official scorer."""


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


def score_file(refs: Path | str, hyp: Path | str, **fields: Any) -> dict:
    """``batch_eval.py --refs REFS --hyp HYP --json``'s metrics (``fields``: other ``EvalConfig``
    fields, e.g. ``format="plain", clean=True``); prints nothing."""
    from dialogpt.evaluation.batch_eval import evaluate
    from dialogpt.evaluation.eval_config import EvalConfig

    return evaluate(EvalConfig(refs=str(refs), hyp=str(hyp), **fields))
