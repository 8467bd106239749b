"""Argument-parsing helpers shared by every entry point.

The original toolkit spells booleans as ``--fp16 true``; users also expect a bare ``--fp16``.
``add_bool_flag`` accepts both, plus ``false``/``0``/``no``.
"""

from __future__ import annotations

import argparse
import logging
import sys

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
    """Prints every flag's default and keeps the description's line breaks."""


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
    """Run an entry point's ``main``; a ``UserError`` prints ``error: ...`` and exits 2."""
    try:
        return main(argv) or 0
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
