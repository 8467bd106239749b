"""A Ray worker that dies once, mid-run, installed by the test rather than by library code.

:func:`ray_with_kill_once` connects this process to a Ray cluster as a job whose ``runtime_env``
carries a ``worker_process_setup_hook``. Each worker of that job runs the hook at start-up: it
replaces a library function (looked up by module and name when a task calls it) with a wrapper
that, the first time its arguments match, creates a marker file and ends the worker process
(``os._exit``, as on a lost node); Ray then retries the task on a fresh worker, where the marker
already exists. The library's entry points join the connection that is already there.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Callable


def kill_once_hook(module: str, function: str, matches: Callable[..., bool], marker: Path):
    """The setup hook: ``module.function`` kills its worker on the first call with arguments
    that ``matches``. A closure, so Ray ships it by value (the workers cannot import tests)."""
    def install() -> None:
        import importlib
        import os

        owner = importlib.import_module(module)
        original = getattr(owner, function)

        def dies_once(*args, **kwargs):
            if matches(*args, **kwargs) and not marker.exists():
                marker.touch()
                os._exit(1)
            return original(*args, **kwargs)

        setattr(owner, function, dies_once)
    return install


@contextlib.contextmanager
def ray_with_kill_once(address: str, module: str, function: str,
                       matches: Callable[..., bool], marker: Path):
    """This process joins ``address`` with :func:`kill_once_hook` installed on every worker."""
    import ray

    ray.init(address=address, log_to_driver=False, runtime_env={
        "worker_process_setup_hook": kill_once_hook(module, function, matches, marker)})
    try:
        yield
    finally:
        ray.shutdown()
