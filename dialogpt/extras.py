"""Optional dependencies: importing one, or a one-line ``UserError`` naming the extra to install.

Each optional package belongs to an extra of ``pyproject.toml``; a feature that needs one calls
:func:`require` (or :func:`require_all` at start-up, before any slow work such as loading a
model), so a missing package reads ``serve.py needs fastapi: pip install -e ".[serve]"`` instead
of a traceback. Packages that only speed things up (``isal``) are not required: their callers
fall back to the standard library.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from dialogpt.cli import UserError

EXTRAS: dict[str, tuple[str, str]] = {
    # import name (a dotted one, or its top-level package): (extra, name in the message)
    "fastapi": ("serve", "fastapi"),
    "uvicorn": ("serve", "uvicorn"),
    "pydantic": ("serve", "pydantic"),
    "gradio": ("serve", "gradio"),
    "matplotlib": ("plot", "matplotlib"),
    "tensorboard": ("tensorboard", "the tensorboard package"),
    "torch.utils.tensorboard": ("tensorboard", "the tensorboard package"),
    "ray": ("cluster", "Ray"),
    "peft": ("lora", "the peft package"),
    "datasets": ("tasks", "the datasets package"),
}
"""Which extra installs each optional package (keep in step with ``pyproject.toml``)."""


def install_hint(extra: str) -> str:
    """The command that installs ``extra`` in a clone: ``pip install -e ".[EXTRA]"``."""
    return f'pip install -e ".[{extra}]"'


def missing_message(module: str, what: str, hint: str = "") -> str:
    """``WHAT needs PACKAGE: pip install -e ".[EXTRA]"HINT`` for the optional ``module``."""
    extra, name = EXTRAS.get(module) or EXTRAS[module.split(".")[0]]
    return f"{what} needs {name}: {install_hint(extra)}{hint}"


def require(module: str, what: str, hint: str = "") -> ModuleType:
    """Import ``module`` (dotted names too), or raise ``UserError`` with :func:`missing_message`.

    ``what`` names the feature (``serve.py``, ``--tensorboard``); ``hint`` is appended (say,
    `` (or run without --tensorboard)``)."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise UserError(missing_message(module, what, hint)) from exc


def check_installed(module: str, what: str, hint: str = "") -> None:
    """Raise the ``UserError`` of :func:`require` when ``module`` cannot be found, without
    importing it (for flag validation at start-up, where an import would be slow)."""
    import importlib.util

    try:
        found = importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a parent package missing; a broken module entry
        found = False
    if not found:
        raise UserError(missing_message(module, what, hint))


def require_all(modules: tuple[str, ...] | list[str], what: str, hint: str = "") -> None:
    """:func:`require` each of ``modules``: the first one missing is the error."""
    for module in modules:
        require(module, what, hint)
