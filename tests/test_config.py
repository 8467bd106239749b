"""dialogpt.config: a parser generated from a typed dataclass config, and its validation."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest

from dialogpt.cli import UserError
from dialogpt.config import build_parser, flag, parse_config, section


@dataclass
class ToolConfig:
    source: str | None = flag(None, "read this", one_of="what")
    listing: bool = flag(False, "list instead", kind=bool, one_of="what")
    size: int = flag(3, "how many", kind=int)
    mode: str = flag("a", "which mode", "details", choices=("a", "b"))
    where: str = flag(help="where to", group="details", default_factory=lambda: "here")
    note: str = "not a flag"

    def validate(self) -> None:
        if self.size < 1:
            raise UserError(f"--size must be >= 1, got {self.size}")


def _parser():
    return build_parser(ToolConfig, "tool.py", "A tool.")


def test_fields_become_flags_with_types_defaults_and_groups(capsys):
    config = parse_config(ToolConfig, _parser(), ["--source", "x", "--size", "5", "--mode", "b"])
    assert config == ToolConfig(source="x", size=5, mode="b", where="here")
    assert parse_config(ToolConfig, _parser(), ["--listing"]).listing is True
    with pytest.raises(SystemExit):
        _parser().parse_args(["--listing", "--note", "x"])  # a plain field is no flag
    text = _parser().format_help()
    assert "details:" in text and "how many (default: 3)" in text
    assert "(--source SOURCE | --listing [true|false])" in text


def test_exactly_one_of_a_group_and_validate_runs(capsys):
    for argv in ([], ["--source", "x", "--listing"]):
        with pytest.raises(SystemExit):
            parse_config(ToolConfig, _parser(), argv)
    with pytest.raises(UserError, match="--size must be >= 1, got 0"):
        parse_config(ToolConfig, _parser(), ["--source", "x", "--size", "0"])


@dataclass
class FileConfig(ToolConfig):
    config: str | None = flag(None, "JSON object of defaults")


def test_a_json_file_of_defaults_that_the_command_line_overrides(tmp_path):
    path = tmp_path / "defaults.json"
    path.write_text(json.dumps({"_note": "ignored", "size": 7, "mode": "b"}))
    parser = build_parser(FileConfig, "tool.py", "A tool.")
    config = parse_config(FileConfig, parser, ["--source", "x", "--config", str(path),
                                                "--mode", "a"], defaults_flag="config")
    assert (config.size, config.mode, config.config) == (7, "a", str(path))
    path.write_text(json.dumps({"sise": 7}))
    with pytest.raises(UserError, match=r"defaults\.json: unknown keys \['sise'\]; .*"
                                        r"did you mean \"size\""):
        parse_config(FileConfig, build_parser(FileConfig, "tool.py", ""),
                     ["--source", "x", "--config", str(path)], defaults_flag="config")
    path.write_text('{\n  "size": 1,\n}')
    with pytest.raises(UserError, match="defaults.json line 3: invalid JSON"):
        parse_config(FileConfig, build_parser(FileConfig, "tool.py", ""),
                     ["--source", "x", "--config", str(path)], defaults_flag="config")
    path.write_text(json.dumps({"size": 0}))  # file values are validated too
    with pytest.raises(UserError, match="--size must be >= 1, got 0"):
        parse_config(FileConfig, build_parser(FileConfig, "tool.py", ""),
                     ["--source", "x", "--config", str(path)], defaults_flag="config")


@dataclass(kw_only=True)
class PositionalConfig:
    month: str = flag(help="which month", positional=True, choices=("2011-01", "2011-02"))
    reports: list[str] = flag(help="report files", positional=True, nargs="*",
                              default_factory=list)
    out: str = flag(help="where to write")  # required after a positional with a default


def test_positional_fields_in_field_order_and_no_validate_needed():
    parser = build_parser(PositionalConfig, "tool.py", "A tool.")
    config = parse_config(PositionalConfig, parser, ["2011-02", "a", "b", "--out", "o"])
    assert config == PositionalConfig(month="2011-02", reports=["a", "b"], out="o")
    assert parse_config(PositionalConfig, parser, ["2011-01", "--out", "o"]).reports == []
    for argv in (["--out", "o"], ["2011-03", "--out", "o"], ["2011-01"]):
        with pytest.raises(SystemExit):
            parse_config(PositionalConfig, parser, argv)
    assert "usage: tool.py [-h] --out OUT {2011-01,2011-02} [reports ...]" in parser.format_help()


@dataclass(frozen=True)
class Shared:
    name: str = flag(help="a required name", group="shared")
    level: int = flag(1, "a level", "shared", kind=int)

    def validate(self) -> None:
        if self.level < 0:
            raise UserError(f"--level must be >= 0, got {self.level}")


@dataclass(frozen=True)
class Defaults:
    mode: str = flag("a", "a mode", "shared")


@dataclass(frozen=True, kw_only=True)
class WithSections:
    first: str = flag("x", "before the section", "shared")
    shared: Shared = section(Shared)
    defaults: Defaults = section(Defaults)
    blocklist: str | None = flag(None, "a file; bare: the built-in one", nargs="?",
                                 const="builtin.txt", metavar="FILE")
    verbose: bool = flag(False, "debug logging", const=True)


def test_sections_join_their_flags_in_place_and_are_built_and_validated_first(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # the usage on one line
    parser = build_parser(WithSections, "tool.py", "A tool.")
    config = parse_config(WithSections, parser, ["--name", "n", "--mode", "b", "--verbose"])
    assert config == WithSections(shared=Shared("n"), defaults=Defaults("b"), verbose=True)
    assert WithSections(shared=Shared("n")).defaults == Defaults()  # every field has a default
    assert parse_config(WithSections, parser, ["--name", "n", "--blocklist"]).blocklist == \
        "builtin.txt"
    assert parse_config(WithSections, parser, ["--name", "n", "--blocklist", "f"]).blocklist == "f"
    text = parser.format_help()
    assert ("usage: tool.py [-h] [--first FIRST] --name NAME [--level LEVEL] [--mode MODE] "
            "[--blocklist [FILE]] [--verbose]\n") in text
    assert text.count("shared:") == 1 and "debug logging (default: False)" in text
    with pytest.raises(UserError, match="--level must be >= 0, got -1"):
        parse_config(WithSections, parser, ["--name", "n", "--level", "-1"])
    with pytest.raises(SystemExit):
        parse_config(WithSections, parser, ["--verbose", "true", "--name", "n"])
