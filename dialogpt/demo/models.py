"""Which model ``demo.py`` trains: its ``--model`` names, their Hub ids and shipped configs."""

from __future__ import annotations

from pathlib import Path

from dialogpt.cli import UserError

REPO_ROOT = Path(__file__).resolve().parents[2]
HUB_MODELS = {"small": "microsoft/DialoGPT-small", "medium": "microsoft/DialoGPT-medium",
              "large": "microsoft/DialoGPT-large"}
SIZE_CONFIGS = {"tiny": "configs/tiny", "small": "configs/117M", "medium": "configs/345M",
                "large": "configs/762M"}


def model_source(model: str) -> str:
    """What ``LSP_train.py --model_name_or_path`` gets for ``demo.py --model MODEL``: a Hub id
    (small, medium, large), the shipped tiny config, or a local model directory."""
    if model in HUB_MODELS:
        return HUB_MODELS[model]
    if model == "tiny":
        return str(REPO_ROOT / SIZE_CONFIGS["tiny"])
    if Path(model).exists():
        return model
    raise UserError(f"--model {model!r}: expected tiny, small, medium, large or a local "
                    "model directory")
