"""One run per output: an exclusive lock held for the life of a run.

``LSP_train.py`` locks ``--output_dir``, ``demo.py`` its directory, ``prepro.py`` its DB path. A
second run on the same output fails at once naming the process that holds the lock. A training
holds a shared lock on its DB (``hold_read_lock``), so ``prepro.py --force`` refuses to replace a
DB that a running training reads. The lock is a
``flock`` on a small file holding the owner's pid, host, start time and command: the kernel drops
it when the owner dies, however it dies, and the next run takes the stale file over with a note.

    with hold_run_lock(output_dir, flag="--output_dir"):
        ...  # train
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import json
import logging
import os
import socket
import sys
from pathlib import Path
from typing import Iterator

from dialogpt.cli import UserError

logger = logging.getLogger(__name__)

LOCK_NAME = ".dialogpt.lock"


def lock_file_for(target: str | os.PathLike, inside: bool = True) -> Path:
    """``TARGET/.dialogpt.lock`` for a directory a run writes into; with ``inside=False`` (an
    output renamed into place when complete, such as a DB) the sibling ``.NAME.lock``."""
    target = Path(target)
    return target / LOCK_NAME if inside else target.parent / f".{target.name}.lock"


def _read_owner(path: Path) -> dict:
    with contextlib.suppress(OSError, ValueError):
        owner = json.loads(path.read_text(encoding="utf-8") or "{}")
        if isinstance(owner, dict):
            return owner
    return {}


def _describe(owner: dict) -> str:
    if not owner:
        return "another process (no owner recorded yet)"
    return (f"process {owner.get('pid')} on {owner.get('host')}, started {owner.get('started')}: "
            f"{owner.get('command', '?')}")


class RunLock:
    """An exclusive, non-blocking lock on ``lock_file_for(target, inside)``."""

    def __init__(self, target: str | os.PathLike, inside: bool = True, flag: str = "output"):
        self.target = Path(target)
        self.path = lock_file_for(target, inside)
        self.flag = flag
        self._fd: int | None = None

    def acquire(self) -> "RunLock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                readers = _only_readers(fd)
                os.close(fd)
                if readers:
                    raise UserError(f"{self.flag} {self.target} is being read by a running "
                                    "training (LSP_train.py --train_input_file): replacing it "
                                    "now would change its data mid-run. Wait for it to finish "
                                    f"(or stop it), or choose another {self.flag}") from None
                raise UserError(f"{self.flag} {self.target} is in use by another run: "
                                f"{_describe(_read_owner(self.path))}. Wait for it to finish "
                                f"(or stop it), or choose another {self.flag}") from None
            try:
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if same:  # else the owner removed the file as we opened it: lock the new one
                break
            os.close(fd)
        self._fd = fd
        self._take_over(_read_owner(self.path))
        owner = {"pid": os.getpid(), "host": socket.gethostname(),
                 "started": datetime.datetime.now().isoformat(timespec="seconds"),
                 "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]])}
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(owner) + "\n").encode(), 0)
        return self

    def _take_over(self, owner: dict) -> None:
        if owner and owner.get("pid") != os.getpid():
            logger.warning("taking over the lock %s: its owner (%s) is no longer running",
                           self.path, _describe(owner))

    def release(self) -> None:
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            self.path.unlink()
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> "RunLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def _only_readers(fd: int) -> bool:
    """Whether the lock on ``fd``'s file is held only by readers (``hold_read_lock``)."""
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    fcntl.flock(fd, fcntl.LOCK_UN)
    return True


@contextlib.contextmanager
def hold_read_lock(target: str | os.PathLike, flag: str = "input") -> Iterator[None]:
    """Read an output of another command (a DB) for the block: a shared lock on the file that
    writer's run lock uses (``inside=False``), so that the writer (``prepro.py --force``) refuses
    to replace it meanwhile, and this reader refuses to start while it is being written. Where
    the lock file cannot be created (a read-only place), nothing can write the target either:
    the block runs unlocked."""
    path = lock_file_for(target, inside=False)
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError:
            yield
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise UserError(f"{flag} {target} is being written by another run: "
                            f"{_describe(_read_owner(path))}. Wait for it to finish") from None
        with contextlib.suppress(FileNotFoundError):
            if os.fstat(fd).st_ino == os.stat(path).st_ino:
                break
        os.close(fd)  # a writer removed the file as we opened it: lock the new one
    try:
        yield
    finally:
        with contextlib.suppress(BlockingIOError):  # the last reader removes the file
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            with contextlib.suppress(OSError):
                path.unlink()
        os.close(fd)


@contextlib.contextmanager
def hold_run_lock(target: str | os.PathLike, flag: str = "output",
                  inside: bool = True) -> Iterator[RunLock]:
    """Hold the run lock of ``target`` for the block; also removes temporaries of dead runs."""
    from dialogpt.fileio import remove_stale_temps

    with RunLock(target, inside=inside, flag=flag) as lock:
        remove_stale_temps(Path(target) if inside else Path(target).parent)
        yield lock
