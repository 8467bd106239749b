"""Telling local paths from Hugging Face Hub ids, and failing fast when the Hub is out of reach.

Without a network, ``from_pretrained("microsoft/DialoGPT-small")`` retries for tens of seconds
and prints a line per retry. :func:`check_hub_id` runs first instead:

- a name that can only be a local path (``./x``, ``/x``, ``~/x``, ``a/b/c``, or whose first
  folder exists here, such as ``models/run``) and does not exist: "directory ... does not exist";
- with ``HF_HUB_OFFLINE=1`` the Hub is not contacted: only the local cache is used;
- otherwise one TCP connect to the Hub's host (``HF_ENDPOINT``, default ``huggingface.co:443``)
  with a 2 s timeout, done once per process. When it fails, offline mode is switched on for this
  process (so a cached copy still loads, without retries) and, should the load then fail,
  :func:`offline_error` says in one line what to do.
"""

from __future__ import annotations

import functools
import os
import socket
from pathlib import Path
from urllib.parse import urlparse

from dialogpt.cli import UserError

DEFAULT_ENDPOINT = "https://huggingface.co"
CONNECT_TIMEOUT = 2.0
_WENT_OFFLINE: dict[str, str] = {}  # why this process switched offline mode on, once it has


def looks_local(name: str) -> bool:
    """True when ``name`` can only be meant as a local path (see the module doc)."""
    if name.startswith((".", "/", "~")) or name.endswith("/") or "\\" in name:
        return True
    parts = name.split("/")
    return len(parts) > 2 or (len(parts) == 2 and Path(parts[0]).is_dir())


def hub_is_offline() -> bool:
    """``HF_HUB_OFFLINE`` set, in the environment or in ``huggingface_hub``'s constants."""
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on"):
        return True
    try:
        import huggingface_hub.constants as constants
    except ImportError:
        return False
    return bool(constants.HF_HUB_OFFLINE)


def _endpoint() -> tuple[str, int]:
    url = urlparse(os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT)
    return url.hostname or "huggingface.co", url.port or (80 if url.scheme == "http" else 443)


@functools.lru_cache(maxsize=None)
def _probe(host: str, port: int, timeout: float) -> str | None:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return None
    except OSError as exc:
        return f"{host}:{port}: {exc.strerror or type(exc).__name__}"


def hub_unreachable_reason(timeout: float = CONNECT_TIMEOUT) -> str | None:
    """None when the Hub host accepts a TCP connection, else why not (checked once a process)."""
    host, port = _endpoint()
    return _probe(host, port, timeout)


def go_offline() -> None:
    """Switch this process to the Hub's offline mode (cache only, no retries)."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    try:
        import huggingface_hub.constants as constants
    except ImportError:
        return
    constants.HF_HUB_OFFLINE = True


def download_command(name: str, local_dir: str = "DIR") -> str:
    """The shell command that saves Hub id ``name`` into ``local_dir`` (huggingface_hub's ``hf``
    CLI; the older ``huggingface-cli`` is gone from current releases)."""
    return f"hf download {name} --local-dir {local_dir}"


def offline_error(name: str, what: str, why: str) -> UserError:
    """The one-line error for a Hub id that cannot be loaded without a network."""
    local = f"models/{name.split('/')[-1]}"
    return UserError(f"could not load {what} {name!r}: {why}, and it is not in the local Hugging "
                     f"Face cache. Point at a local directory instead (one saved with "
                     f"`{download_command(name, local)}` on a machine with a "
                     f"network, then pass {local}), or run once online so the Hub id is cached "
                     f"and set HF_HUB_OFFLINE=1")


def check_hub_id(name: str, what: str = "model") -> str | None:
    """Check ``name`` before a ``from_pretrained`` of something that is not a local directory.

    Raises ``UserError`` for a local-looking path that does not exist. For a Hub id returns None
    when the Hub is reachable, else why it is not (offline mode is then on, so a cached copy
    still loads at once; pass the reason to :func:`offline_error` when loading fails).
    """
    if Path(name).expanduser().exists():
        return None
    if looks_local(name):
        raise UserError(f"directory {name} does not exist (and it is not a Hugging Face Hub id); "
                        f"check the path of the {what}")
    if hub_is_offline():
        return _WENT_OFFLINE.get("why", "HF_HUB_OFFLINE is set")
    reason = hub_unreachable_reason()
    if reason is None:
        return None
    go_offline()
    _WENT_OFFLINE["why"] = f"the Hugging Face Hub is unreachable ({reason})"
    return _WENT_OFFLINE["why"]


def is_cached(name: str) -> bool:
    """True when the Hub id ``name`` has a ``config.json`` in the local Hugging Face cache."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return False
    try:
        return isinstance(try_to_load_from_cache(name, "config.json"), str)
    except Exception:  # an invalid repo id, an unreadable cache
        return False


def require_hub_id(name: str, what: str = "model") -> None:
    """Fail at once (one line) when ``name`` is a Hub id that cannot load here: no network and
    not cached. For commands that would only find out much later (the demo's training stage)."""
    offline = check_hub_id(name, what)
    if offline and not is_cached(name):
        raise offline_error(name, what, offline)
