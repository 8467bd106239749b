"""Atomic file and directory writes, checksums, disk-full and leftover handling.

A crash must never leave a half-written file that looks whole: everything is written to a
temporary sibling ``.NAME.HOST.PID.XXXX.tmp`` and renamed into place (``os.replace`` is atomic on
POSIX within a filesystem). Temporaries left by processes that died (SIGKILL, power cut) are
removed, with a note, by the next write into that directory on the same host. Running out of
space raises ``NoSpaceError`` ("no space left writing PATH"), a ``UserError``: exit 2, and the
destination keeps its previous content.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import logging
import os
import re
import shutil
import socket
import tempfile
from pathlib import Path
from typing import IO, Iterable, Iterator

from dialogpt.cli import UserError

logger = logging.getLogger(__name__)

MANIFEST = "manifest.json"
"""Per-directory record of each file's size and sha256 (checkpoints, converted models)."""
_LOW_SPACE_BYTES = 16 << 20
_HOST = re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname().split(".")[0]) or "host"
_TEMP_NAME = re.compile(r"^\.(?P<name>.+)\.(?P<host>[A-Za-z0-9-]+)\.(?P<pid>\d+)\.[A-Za-z0-9_]+"
                        r"\.tmp$|^\.(?P<old>.+)\.old\.(?P<oldpid>\d+)$")
_swept: set[str] = set()
_WRITER_FAILURES = ("write failed", "failed writing", "unexpected pos")
"""How torch's zip writer reports a failed write (it drops the errno)."""


class NoSpaceError(UserError):
    """The disk (or quota) filled up while writing an output; nothing half-written was kept."""


def _is_disk_full(exc: BaseException, directory: Path) -> bool:
    """Whether ``exc`` (or an exception it wraps) means the disk or quota is full.

    Libraries word it differently: ``OSError`` errno 28/122, safetensors' "os error 28", and torch's
    writer ("PytorchStreamWriter failed writing file", or "unexpected pos 576 vs 534" when a short
    write went unnoticed), the latter checked against the free space left.
    """
    seen = exc
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        text = str(seen)
        if "No space left on device" in text or "os error 28" in text or "Errno 28" in text:
            return True
        if any(phrase in text for phrase in _WRITER_FAILURES):
            with contextlib.suppress(OSError):
                return shutil.disk_usage(directory).free < _LOW_SPACE_BYTES
        seen = seen.__cause__ or seen.__context__
    return False


def raise_if_disk_full(exc: BaseException, path: str | os.PathLike) -> None:
    """Turn a disk-full failure while writing ``path`` into ``NoSpaceError``; else do nothing."""
    parent = Path(path).parent
    if not isinstance(exc, NoSpaceError) and _is_disk_full(exc, parent):
        free = ""
        with contextlib.suppress(OSError):
            free = f" ({shutil.disk_usage(parent).free / 2**20:.0f} MiB free there now)"
        raise NoSpaceError(f"no space left writing {path}{free}; nothing half-written was kept. "
                           "Free some space (or write elsewhere) and run the command again") from exc


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temps(directory: str | os.PathLike) -> list[Path]:
    """Remove this host's temporaries in ``directory`` whose writing process is dead; log a note.

    Runs once per directory per process (every ``atomic_write``/``atomic_dir`` calls it).
    """
    directory = Path(directory)
    key = str(directory.resolve())
    if key in _swept or not directory.is_dir():
        return []
    _swept.add(key)
    removed, size = [], 0
    for child in directory.iterdir():
        match = _TEMP_NAME.match(child.name)
        if not match:
            continue
        pid = int(match.group("pid") or match.group("oldpid"))
        if match.group("host") not in (None, _HOST) or pid == os.getpid() or _pid_alive(pid):
            continue
        with contextlib.suppress(OSError):
            size += sum(f.stat().st_size for f in child.rglob("*") if f.is_file()) \
                if child.is_dir() else child.stat().st_size
            if child.is_dir():
                shutil.rmtree(child)
            else:
                child.unlink()
            removed.append(child)
    if removed:
        logger.warning("removed %d unfinished temporary output(s) of dead processes in %s "
                       "(%.1f MB): %s", len(removed), directory, size / 1e6,
                       ", ".join(p.name for p in removed[:5]) + (", ..." if len(removed) > 5 else ""))
    return removed


def _temp_prefix(name: str) -> str:
    return f".{name}.{_HOST}.{os.getpid()}."


def _default_mode(directory: bool) -> int:
    """The permissions a plain ``open``/``mkdir`` would give under the current umask.

    ``mkstemp``/``mkdtemp`` create private (0600/0700) entries; finished outputs must not be.
    """
    umask = os.umask(0)
    os.umask(umask)
    return (0o777 if directory else 0o666) & ~umask


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "w", encoding: str | None = "utf-8",
                 newline: str | None = None) -> Iterator[IO]:
    """Open a temporary file next to ``path``; on clean exit fsync it and rename it to ``path``.

    On an exception the temporary file is removed and ``path`` is left untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(path.parent)
    fd, tmp = tempfile.mkstemp(prefix=_temp_prefix(path.name), suffix=".tmp", dir=path.parent)
    os.fchmod(fd, _default_mode(directory=False))
    binary = "b" in mode
    try:
        with os.fdopen(fd, mode, encoding=None if binary else encoding,
                       newline=None if binary else newline) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise_if_disk_full(exc, path)
        raise


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary directory that is renamed to ``path`` when the block succeeds.

    With ``overwrite`` an existing ``path`` is replaced (moved aside, then deleted after the
    rename), otherwise an existing ``path`` raises ``FileExistsError`` before any work is done.
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} already exists")
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(path.parent)
    tmp = Path(tempfile.mkdtemp(prefix=_temp_prefix(path.name), suffix=".tmp", dir=path.parent))
    tmp.chmod(_default_mode(directory=True))
    try:
        yield tmp
        finalise_tree(tmp)
        old = None
        if path.exists():
            old = path.with_name(f".{path.name}.old.{os.getpid()}")
            os.replace(path, old)
        os.replace(tmp, path)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException as exc:
        disk_full = _is_disk_full(exc, path.parent)
        shutil.rmtree(tmp, ignore_errors=True)
        if disk_full:
            raise_if_disk_full(OSError(errno.ENOSPC, "No space left on device"), path)
        raise


def finalise_tree(directory: str | os.PathLike) -> None:
    """Before a directory is renamed into place: flush every file to disk (a power cut must not
    leave outputs that look complete but are empty) and give files that libraries create private
    (safetensors: 0600) the permissions a plain ``open`` would (umask-based)."""
    file_mode = _default_mode(directory=False)
    for file in sorted(Path(directory).rglob("*")):
        if file.is_file() and not file.is_symlink():
            if file.stat().st_mode & 0o777 == 0o600 and file_mode != 0o600:
                file.chmod(file_mode)
            with open(file, "rb") as handle:
                os.fsync(handle.fileno())


def sha256_file(path: str | os.PathLike, chunk_size: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(chunk_size), b""):
            digest.update(chunk)
    return digest.hexdigest()


def write_manifest(directory: str | os.PathLike, names: Iterable[str] | None = None) -> Path:
    """Record size and sha256 of ``names`` (default: every file) of ``directory`` in MANIFEST."""
    directory = Path(directory)
    if names is None:
        names = sorted(str(f.relative_to(directory)) for f in directory.rglob("*")
                       if f.is_file() and f.name != MANIFEST)
    files = {name: {"size": (directory / name).stat().st_size,
                    "sha256": sha256_file(directory / name)} for name in names}
    target = directory / MANIFEST
    target.write_text(json.dumps({"format": 1, "files": files}, indent=1, sort_keys=True) + "\n",
                      encoding="utf-8")
    return target


def verify_manifest(directory: str | os.PathLike, only: Iterable[str] | None = None,
                    remedy: str = "copy it again or use another checkpoint") -> bool:
    """Check files against ``directory``'s MANIFEST; ``False`` when there is none.

    Raises ``UserError`` naming the first file whose size or sha256 differs, or that is missing.
    ``only`` restricts the check to those names (those not recorded are skipped).
    """
    directory = Path(directory)
    try:
        recorded = json.loads((directory / MANIFEST).read_text(encoding="utf-8"))["files"]
    except FileNotFoundError:
        return False
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UserError(f"{directory / MANIFEST} is unreadable ({exc}): the directory is "
                        f"damaged; {remedy}") from exc
    wanted = set(only) if only is not None else None
    for name, entry in sorted(recorded.items()):
        if wanted is not None and name not in wanted:
            continue
        file = directory / name
        if not file.is_file():
            raise UserError(f"{file} is missing (listed in {MANIFEST}); {remedy}")
        size = file.stat().st_size
        if size != entry["size"]:
            raise UserError(f"{file} is damaged: {size} bytes, {entry['size']} when it was "
                            f"written (truncated or overwritten copy); {remedy}")
        if sha256_file(file) != entry["sha256"]:
            raise UserError(f"{file} is damaged: its sha256 differs from the one recorded when "
                            f"it was written; {remedy}")
    return True
