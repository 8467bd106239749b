"""Argument-parsing helpers shared by every entry point.

The original toolkit spells booleans as ``--fp16 true``; users also expect a bare ``--fp16``.
``add_bool_flag`` accepts both, plus ``false``/``0``/``no``.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

_TRUE = {"true", "1", "yes", "y", "t", "on"}
_FALSE = {"false", "0", "no", "n", "f", "off"}


def str2bool(value: str | bool) -> bool:
    """Parse a boolean flag value; ``argparse`` calls this for every bool flag."""
    if isinstance(value, bool):
        return value
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise argparse.ArgumentTypeError(f"expected a boolean (true/false), got {value!r}")


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Prints every flag's default and keeps the description's line breaks.

    No "(default: ...)" is added to a required flag (it has none) or to a help text that already
    says what its default is.
    """

    def _get_help_string(self, action):
        text = action.help or ""
        if action.required or "default" in text.lower():
            return text
        return super()._get_help_string(action)


SEED_LIMIT = 2 ** 64
"""Seeds are 0 <= seed < 2**64: what ``torch.manual_seed`` and numpy's generators take."""


def check_seed(value: object, name: str = "--seed", unseeded_ok: bool = False) -> int:
    """``value`` as a seed, or ``UserError`` naming ``name`` and the range (``-1``: unseeded,
    where ``unseeded_ok``)."""
    try:
        seed = value if isinstance(value, int) else int(str(value))
    except ValueError:
        raise UserError(f"{name} must be an integer, got {value!r}") from None
    if isinstance(value, bool) or not (-1 if unseeded_ok else 0) <= seed < SEED_LIMIT:
        lowest = "-1 (unseeded)" if unseeded_ok else "0"
        raise UserError(f"{name} {value} is out of range: a seed is {lowest} to 2**64 - 1")
    return seed


def seed_type(unseeded_ok: bool = False):
    """The argparse ``type`` of every ``--seed`` flag: an out-of-range seed is a usage error at
    parse time (before anything loads), never a traceback from torch later."""
    def seed(value: str) -> int:
        try:
            return check_seed(value, unseeded_ok=unseeded_ok)
        except UserError as exc:
            raise argparse.ArgumentTypeError(str(exc).removeprefix("--seed ")) from None
    return seed


def usable_cores() -> int:
    """The CPU cores this process may run on: its affinity on Linux (honouring taskset and cgroup
    cpusets), else the machine's count."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def make_parser(prog: str, description: str) -> argparse.ArgumentParser:
    return argparse.ArgumentParser(prog=prog, description=description, formatter_class=HelpFormatter)


def add_bool_flag(parser: argparse.ArgumentParser | argparse._ArgumentGroup, name: str,
                  default: bool, help: str) -> None:
    """Add ``--name [true|false]``: a bare ``--name`` means true."""
    parser.add_argument(name, type=str2bool, nargs="?", const=True, default=default,
                        metavar="true|false", help=help)


def setup_logging(verbose: bool = False) -> logging.Logger:
    """One log format for every entry point: time, level, message, to stderr."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        datefmt="%H:%M:%S", stream=sys.stderr, force=True)
    return logging.getLogger("dialogpt")


class UserError(Exception):
    """An error caused by the user's input or flags; entry points print it without a traceback."""


def run_main(main, argv=None) -> int:
    """Run an entry point's ``main``: every fault ends in one line, never a traceback.

    - ``UserError``: ``error: ...``, exit 2;
    - out of disk space anywhere: ``error: no space left writing PATH``, exit 2;
    - a path that became read-only or forbidden during the run: ``error: PATH: REASON``, exit 2;
    - Ctrl-C: exit 130; SIGTERM: exit 143 (raised as ``Terminated`` so atomic writes clean up).
    """
    from dialogpt.interrupts import Terminated, terminate_raises

    try:
        with terminate_raises():
            return main(argv) or 0
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        how = "SIGTERM" if isinstance(exc, Terminated) else "Ctrl-C"
        print(f"stopped by {how}; outputs are either complete or not written (no partial files)",
              file=sys.stderr)
        return 143 if isinstance(exc, Terminated) else 130
    except OSError as exc:
        if _cannot_write(exc):  # a place checked up front that changed during the run
            print(f"error: {exc.filename}: {exc.strerror}; check its permissions (or choose "
                  "another place) and run the command again", file=sys.stderr)
            return 2
        if not _is_no_space(exc):
            raise
        print(f"error: no space left writing {exc.filename or 'an output'}; nothing half-written "
              "was kept. Free some space (or write elsewhere) and run the command again",
              file=sys.stderr)
        return 2


def _cannot_write(exc: OSError) -> bool:
    import errno

    return exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM) and bool(exc.filename)


def _is_no_space(exc: OSError) -> bool:
    import errno

    return exc.errno in (errno.ENOSPC, errno.EDQUOT)


def check_writable(flag: str, path: Path, folder: Path) -> None:
    """Refuse, before any work, an output whose folder cannot be written: ``folder`` (where the
    output, its temporaries and its run lock go) or, when it does not exist yet, its nearest
    existing parent (where it would be created). A probe file is created and removed: the only
    test that sees read-only mounts, permissions, ACLs and root-squashing alike."""
    import tempfile

    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    try:
        fd, probe = tempfile.mkstemp(prefix=".dialogpt-probe.", suffix=".tmp", dir=existing)
    except OSError as exc:
        where = "" if existing == folder else f" (it would be created in {existing})"
        raise UserError(f"{flag} {path}: cannot write in {existing}{where}: "
                        f"{exc.strerror or exc}; choose a writable place") from None
    os.close(fd)
    os.unlink(probe)


def _same_file(a: Path, b: Path) -> bool:
    if a.resolve() == b.resolve():
        return True
    try:
        return a.exists() and b.exists() and a.samefile(b)
    except OSError:
        return False


def check_paths(*, input_files: dict[str, object] | None = None,
                input_dirs: dict[str, object] | None = None,
                output_files: dict[str, object] | None = None,
                output_dirs: dict[str, object] | None = None) -> None:
    """Check paths up front, before any work: each dict maps a flag name to its path (or None).

    Inputs must exist and be of the right kind; outputs must not be of the wrong kind (a file
    where a directory goes and vice versa) and must be writable (``check_writable``), and no
    output file may be the same file as an input file (resolved paths and inodes compared):
    writing it would destroy the input.
    """
    def given(paths):
        return [(flag, Path(str(path))) for flag, path in (paths or {}).items() if path]

    for flag, path in given(input_files):
        if not path.exists():
            raise UserError(f"{flag} {path} does not exist")
        if path.is_dir():
            raise UserError(f"{flag} {path} is a directory; pass the file inside it")
    for flag, path in given(input_dirs):
        if not path.exists():
            raise UserError(f"{flag} {path} does not exist")
        if not path.is_dir():
            raise UserError(f"{flag} {path} is a file; pass a directory")
    for flag, path in given(output_files):
        if path.is_dir():
            raise UserError(f"{flag} {path} is a directory; pass a file path "
                            f"(for example {path / 'output.txt'})")
        for parent in path.parents:
            if parent.exists() and not parent.is_dir():
                raise UserError(f"{flag} {path}: {parent} is a file, not a directory")
    for flag, path in given(output_dirs):
        if path.exists() and not path.is_dir():
            raise UserError(f"{flag} {path} is a file; pass a directory (created if missing)")
    for flag, path in given(output_files):
        check_writable(flag, path, path.parent)
    for flag, path in given(output_dirs):
        check_writable(flag, path, path)
    for out_flag, out in given(output_files):
        for in_flag, source in given(input_files):
            if _same_file(out, source):
                raise UserError(f"{out_flag} {out} is the same file as {in_flag}: writing it would "
                                f"destroy the input; choose another {out_flag}")
