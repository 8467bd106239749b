"""Typed dataclass configs whose fields are also the flags of an entry point.

A tool's config is a dataclass; each field declared with :func:`flag` carries its help text, its
group in ``--help`` and how it is parsed. :func:`build_parser` generates the argparse parser from
the fields, in field order (``--help`` is generated too, with the defaults printed by
:class:`dialogpt.cli.HelpFormatter`); :func:`parse_config` parses a command line into the config
and calls its ``validate()``, which holds every check that needs no files, so a bad command fails
before anything heavy is loaded. Library code then takes the config (or plain keyword arguments),
never the argparse namespace.
"""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any, Callable, Sequence, TypeVar

from dialogpt.cli import add_bool_flag, make_parser

Config = TypeVar("Config")


def flag(default: Any = dataclasses.MISSING, help: str = "", group: str | None = None, *,
         kind: Callable = str, choices: Sequence[str] | None = None, metavar: str | None = None,
         aliases: tuple[str, ...] = (), nargs: str | None = None, one_of: str | None = None,
         default_factory: Callable[[], Any] | Any = dataclasses.MISSING) -> Any:
    """A config field that is also the flag ``--NAME``.

    ``group``: its section of ``--help`` (``None``: the main options). ``kind``: the argparse
    ``type`` (``bool``: a ``true|false`` flag that also works bare, ``dialogpt.cli.add_bool_flag``).
    ``nargs`` "+": a list of values. ``one_of``: fields sharing this name form a required
    mutually exclusive group (exactly one of them is given). ``default_factory``: a default
    computed when the parser is built (e.g. from the machine or the environment)."""
    metadata = {"help": help, "group": group, "kind": kind, "choices": choices,
                "metavar": metavar, "aliases": aliases, "nargs": nargs, "one_of": one_of}
    if default_factory is not dataclasses.MISSING:
        return dataclasses.field(default_factory=default_factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def _default(field: dataclasses.Field) -> Any:
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return field.default


def add_flags(parser: argparse.ArgumentParser, config_class: type) -> argparse.ArgumentParser:
    """Add one flag per field of ``config_class`` declared with :func:`flag`, in field order."""
    groups: dict[str | None, Any] = {None: parser}
    exclusive: dict[str, Any] = {}
    for field in dataclasses.fields(config_class):
        meta = field.metadata
        if "kind" not in meta:
            continue
        group = groups.get(meta["group"])
        if group is None:
            group = groups[meta["group"]] = parser.add_argument_group(meta["group"])
        if meta["one_of"]:
            if meta["one_of"] not in exclusive:
                exclusive[meta["one_of"]] = group.add_mutually_exclusive_group(required=True)
            group = exclusive[meta["one_of"]]
        if meta["kind"] is bool:
            add_bool_flag(group, f"--{field.name}", _default(field), meta["help"])
            continue
        extra = {"type": meta["kind"]} if meta["kind"] is not str else {}
        for key in ("choices", "metavar", "nargs"):
            if meta[key]:
                extra[key] = meta[key]
        group.add_argument(f"--{field.name}", *meta["aliases"], dest=field.name,
                           default=_default(field), help=meta["help"], **extra)
    return parser


def build_parser(config_class: type, prog: str, description: str) -> argparse.ArgumentParser:
    """The parser of an entry point: ``dialogpt.cli.make_parser`` plus the config's flags."""
    return add_flags(make_parser(prog, description), config_class)


def parse_config(config_class: type[Config], parser: argparse.ArgumentParser,
                 argv: Sequence[str] | None = None) -> Config:
    """Parse ``argv`` with ``parser`` (from :func:`build_parser`) into a validated config."""
    config = config_class(**vars(parser.parse_args(argv)))
    config.validate()
    return config
