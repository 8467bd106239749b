"""Downstream datasets -> GODEL records (``convert_task.py``): one module per dataset.

``wow``, ``woi``, ``coqa``, ``multiwoz`` and ``dstc9`` reproduce the records of GODEL's own
converters (spec ``docs/spec/grounded.md`` §8, deliberate differences in each module's
docstring); ``chat`` reads people's own chat data. Each dataset module has ``SPLITS`` (output
split -> source files), ``EXPECTED`` (the format, for error messages), ``HAS_TOPICS`` and
``read_split``; ``sampling`` chooses the train examples, ``output`` writes them and ``cli`` is the
command.
"""

from __future__ import annotations

import importlib
from types import ModuleType

TASKS = ("wow", "woi", "coqa", "multiwoz", "dstc9", "chat")


def task_module(name: str) -> ModuleType:
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; choose one of {', '.join(TASKS)}")
    return importlib.import_module(f"dialogpt.data.tasks.{name}")
