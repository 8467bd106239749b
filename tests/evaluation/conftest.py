"""The evaluation reference cases: the full set beside the checkout, else the vendored one."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

VENDORED = Path(__file__).resolve().parents[1] / "assets" / "eval-cases"


@pytest.fixture(scope="session")
def eval_cases() -> Path:
    """``../shared/eval-cases`` (or ``$DIALOGPT_SHARED/eval-cases``) when present: every case,
    ``dstc7_1k`` included; else ``tests/assets/eval-cases`` (the official expected values and the
    ``synth200`` case, vendored so these tests always run)."""
    root = Path(os.environ.get("DIALOGPT_SHARED", Path(__file__).resolve().parents[2].parent
                               / "shared"))
    full = root / "eval-cases"
    return full if (full / "expected_official.json").is_file() else VENDORED
