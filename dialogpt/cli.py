"""Argument-parsing helpers shared by every entry point.

The original toolkit spells booleans as ``--fp16 true``; users also expect a bare ``--fp16``.
``add_bool_flag`` accepts both, plus ``false``/``0``/``no``.
"""

from __future__ import annotations

import argparse
import logging
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
        if not _is_no_space(exc):
            raise
        print(f"error: no space left writing {exc.filename or 'an output'}; nothing half-written "
              "was kept. Free some space (or write elsewhere) and run the command again",
              file=sys.stderr)
        return 2


def _is_no_space(exc: OSError) -> bool:
    import errno

    return exc.errno in (errno.ENOSPC, errno.EDQUOT)


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
    where a directory goes and vice versa), and no output file may be the same file as an input
    file (resolved paths and inodes compared): writing it would destroy the input.
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
    for out_flag, out in given(output_files):
        for in_flag, source in given(input_files):
            if _same_file(out, source):
                raise UserError(f"{out_flag} {out} is the same file as {in_flag}: writing it would "
                                f"destroy the input; choose another {out_flag}")
