"""Typed dataclass configs whose fields are also the flags of an entry point.

A tool's config is a dataclass; each field declared with :func:`flag` carries its help text, its
group in ``--help`` and how it is parsed. :func:`build_parser` generates the argparse parser from
the fields, in field order (``--help`` is generated too, with the defaults printed by
:class:`dialogpt.cli.HelpFormatter`); :func:`parse_config` parses a command line into the config
and calls its ``validate()``, which holds every check that needs no files, so a bad command fails
before anything heavy is loaded. Library code then takes the config (or plain keyword arguments),
never the argparse namespace. Entry points that share flags hold the shared config as a
:func:`section` field: its flags join theirs in place, and it is built and validated first.

A config may take its defaults from a JSON file: a field such as ``config`` naming the file, passed
to :func:`parse_config` as ``defaults_flag``. The file's keys are field names; keys starting with
``_`` are notes; flags given on the command line win.
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import json
from pathlib import Path
from typing import Any, Callable, Sequence, TypeVar

from dialogpt.cli import UserError, add_bool_flag, make_parser

Config = TypeVar("Config")


def flag(default: Any = dataclasses.MISSING, help: str = "", group: str | None = None, *,
         kind: Callable = str, choices: Sequence[str] | None = None, metavar: str | None = None,
         aliases: tuple[str, ...] = (), nargs: str | None = None, one_of: str | None = None,
         positional: bool = False, const: Any = None,
         default_factory: Callable[[], Any] | Any = dataclasses.MISSING) -> Any:
    """A config field that is also the flag ``--NAME``.

    ``group``: its section of ``--help`` (``None``: the main options). ``kind``: the argparse
    ``type`` (``bool``: a ``true|false`` flag that also works bare, ``dialogpt.cli.add_bool_flag``).
    ``nargs`` "+": a list of values. ``one_of``: fields sharing this name form a required
    mutually exclusive group (exactly one of them is given). ``positional``: the argument
    ``NAME`` instead of a flag (required unless ``nargs`` lets it be absent). ``const``: the value
    of a bare ``--NAME``: with ``nargs`` "?" the flag may also take a value, without ``nargs`` it
    is a switch that takes none (``const=True`` on a ``False`` default: argparse's store_true).
    ``default_factory``: a default computed when the parser is built (e.g. from the machine or
    the environment, or a list). No default and no ``default_factory``: a required flag (and a
    required field; declare the dataclass ``kw_only=True`` when such a field follows ones with
    defaults)."""
    metadata = {"help": help, "group": group, "kind": kind, "choices": choices,
                "metavar": metavar, "aliases": aliases, "nargs": nargs, "one_of": one_of,
                "positional": positional, "const": const}
    if default_factory is not dataclasses.MISSING:
        return dataclasses.field(default_factory=default_factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def section(config_class: type) -> Any:
    """A config field holding another config, whose flags join this config's where the field
    stands (under their own field names, which must not clash with this config's; a ``group``
    of the same title is one section of ``--help``). Several entry points share flags so.
    Its default is ``config_class()`` when every field of that has a default."""
    metadata = {"section": config_class}
    if all(not _required(field) for field in dataclasses.fields(config_class)):
        return dataclasses.field(default_factory=config_class, metadata=metadata)
    return dataclasses.field(metadata=metadata)


def _required(field: dataclasses.Field) -> bool:
    return field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING


def _default(field: dataclasses.Field) -> Any:
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return field.default


def add_flags(parser: argparse.ArgumentParser, config_class: type,
              groups: dict | None = None) -> argparse.ArgumentParser:
    """Add one flag per field of ``config_class`` declared with :func:`flag`, in field order,
    and a :func:`section`'s flags in its place. ``groups``: the argument groups made so far."""
    groups = {None: parser} if groups is None else groups
    for field in dataclasses.fields(config_class):
        if "section" in field.metadata:
            add_flags(parser, field.metadata["section"], groups)
        elif "kind" in field.metadata:
            _add_flag(_group(field.metadata, groups), field)
    return parser


def _group(meta, groups: dict):
    """A flag's argument group: its ``group`` (made on first use), or the required mutually
    exclusive group of its ``one_of`` there."""
    title = meta["group"]
    if title not in groups:
        groups[title] = groups[None].add_argument_group(title)
    if not meta["one_of"]:
        return groups[title]
    key = ("one_of", meta["one_of"])
    if key not in groups:
        groups[key] = groups[title].add_mutually_exclusive_group(required=True)
    return groups[key]


def _add_flag(group, field: dataclasses.Field) -> None:
    meta = field.metadata
    if meta["kind"] is bool:
        add_bool_flag(group, f"--{field.name}", _default(field), meta["help"])
        return
    required = _required(field)
    extra = {} if required else {"default": _default(field)}
    if meta["const"] is not None:
        extra["const"] = meta["const"]
    if meta["const"] is not None and not meta["nargs"]:
        extra["action"] = "store_const"
    else:
        if meta["kind"] is not str:
            extra["type"] = meta["kind"]
        extra.update({key: meta[key] for key in ("choices", "metavar", "nargs") if meta[key]})
    if meta["positional"]:
        if extra.get("default", 0) is None:  # argparse's own: no "(default: None)" in --help
            del extra["default"]
        group.add_argument(field.name, help=meta["help"], **extra)
    else:
        group.add_argument(f"--{field.name}", *meta["aliases"], dest=field.name,
                           required=required, help=meta["help"], **extra)


def build_parser(config_class: type, prog: str, description: str) -> argparse.ArgumentParser:
    """The parser of an entry point: ``dialogpt.cli.make_parser`` plus the config's flags."""
    return add_flags(make_parser(prog, description), config_class)


def file_defaults(config_class: type, path: str, flag_name: str = "config") -> dict[str, Any]:
    """The field values in the JSON object at ``path`` (keys starting with ``_`` are notes),
    checked against the fields of ``config_class``; ``UserError`` names ``--flag_name``."""
    file = Path(path)
    try:
        values = json.loads(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UserError(f"cannot read --{flag_name} {file}: {exc.strerror}") from exc
    except json.JSONDecodeError as exc:
        raise UserError(f"--{flag_name} {file} line {exc.lineno}: invalid JSON ({exc.msg})") \
            from exc
    if not isinstance(values, dict):
        raise UserError(f"--{flag_name} {file} must hold a JSON object of flag values")
    values = {key: value for key, value in values.items() if not key.startswith("_")}
    known = {field.name for field in dataclasses.fields(config_class)} - {flag_name}
    unknown = sorted(set(values) - known)
    if unknown:
        close = difflib.get_close_matches(unknown[0], known, n=1)
        hint = f" (did you mean \"{close[0]}\"?)" if close else ""
        raise UserError(f"--{flag_name} {file}: unknown keys {unknown}; keys are flag names "
                        f"without dashes{hint}")
    return values


def parse_config(config_class: type[Config], parser: argparse.ArgumentParser,
                 argv: Sequence[str] | None = None, defaults_flag: str | None = None) -> Config:
    """Parse ``argv`` with ``parser`` (from :func:`build_parser`) into a validated config.

    ``defaults_flag``: the field naming a JSON file of defaults (:func:`file_defaults`), read
    before the command line is parsed for good. Its values do not pass through the flags'
    types, so ``validate()`` checks them. A config without checks needs no ``validate()``."""
    if defaults_flag:
        path = getattr(parser.parse_known_args(argv)[0], defaults_flag)
        if path:
            parser.set_defaults(**file_defaults(config_class, path, defaults_flag))
    return validated(_build(config_class, vars(parser.parse_args(argv))))


def _build(config_class: type[Config], values: dict[str, Any]) -> Config:
    """``config_class`` from the parsed flags' values, each :func:`section` built (and
    validated) from them first."""
    kwargs = {}
    for field in dataclasses.fields(config_class):
        if "section" in field.metadata:
            kwargs[field.name] = validated(_build(field.metadata["section"], values))
        elif field.name in values:
            kwargs[field.name] = values[field.name]
    return config_class(**kwargs)


def validated(config: Config) -> Config:
    """``config`` after its ``validate()``, where it has one."""
    if hasattr(config, "validate"):
        config.validate()
    return config
