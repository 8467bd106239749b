"""Downloads: the released key archives and test id files, and monthly Reddit dumps.

Local dumps are the normal path (pushshift no longer serves them; academic torrents do); these
commands exist for mirrors that do. Downloads resume from ``DEST.part``, retry a bounded number
of times and check the sha256 when it is known (``dialogpt.download``).

- ``python -m dialogpt.extraction.fetch keys small --dest keys --months 2005-12 ...``: the
  key archive of the original data set (``make`` runs it; see ``key_archives``);
- ``python -m dialogpt.extraction.fetch ids keys-test.gz --dest T/ids/keys-test.gz``
- ``python -m dialogpt.extraction.fetch dumps 2011-01 2011-02 --dest dumps --base_url URL``
  fetches ``URL/submissions/RS_M.zst`` and ``URL/comments/RC_M.zst`` (pushshift's layout).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dialogpt.cli import HelpFormatter, UserError, make_parser, run_main, setup_logging
from dialogpt.config import add_flags, flag, validated

IDS_BASE_URL = "https://raw.githubusercontent.com/microsoft/DialoGPT/master/reddit_extractor/data"
ID_FILE_SHA256 = {
    "keys-test.gz": "7347e23a71268ca02e5d7cb633afa992931f04ddc162c62ff4e1ee77ee7a8dfc",
    "test-multi-refs-ids.txt": "21a0be60644f67f588947731dc1517fdccb6ee085434b6272a68a5d7573269ac",
}


def fetch_id_file(name: str, dest: Path, base_url: str = IDS_BASE_URL, retries: int = 3,
                  progress: bool = True) -> Path:
    from dialogpt.download import download
    if name not in ID_FILE_SHA256:
        raise UserError(f"unknown id file {name!r}; expected one of {sorted(ID_FILE_SHA256)}")
    return download(f"{base_url.rstrip('/')}/{name}", dest, sha256=ID_FILE_SHA256[name],
                    retries=retries, progress=progress)


def fetch_dumps(months: list[str], dest: Path, base_url: str, suffix: str = ".zst",
                retries: int = 3, progress: bool = True) -> list[Path]:
    from dialogpt.download import download
    paths = []
    for month in months:
        for kind, folder in (("RS", "submissions"), ("RC", "comments")):
            name = f"{kind}_{month}{suffix}"
            paths.append(download(f"{base_url.rstrip('/')}/{folder}/{name}", dest / name,
                                  retries=retries, progress=progress))
    return paths


_RETRIES = "further attempts after a failure"


@dataclass(kw_only=True)
class KeysConfig:
    """``fetch keys``: the key archive of the original data set, unpacked into ``dest``."""

    size: str = flag(help="which data set's keys", choices=["small", "full"], positional=True)
    dest: Path = flag(Path("keys"), "key folder (K)", kind=Path)
    months: list[str] = flag(help="months that need key files; when all are in --dest already, "
                             "nothing is downloaded", nargs="*", default_factory=list)
    url: list[str] | None = flag(None, "archive URLs tried in turn (default: the original "
                                 "release's)", nargs="*")
    archive_dir: Path | None = flag(None, "where keys-SIZE.tar is kept (default: the parent of "
                                    "--dest)", kind=Path)
    sha256: str | None = flag(None, "expected sha256 of the archive")
    retries: int = flag(3, _RETRIES, kind=int)


@dataclass(kw_only=True)
class IdsConfig:
    """``fetch ids``: a released id file, checked against its known sha256."""

    name: str = flag(help="which file", choices=sorted(ID_FILE_SHA256), positional=True)
    dest: Path = flag(help="where to write it", kind=Path)
    base_url: str = flag(IDS_BASE_URL, "folder URL holding the id files")
    retries: int = flag(3, _RETRIES, kind=int)


@dataclass(kw_only=True)
class DumpsConfig:
    """``fetch dumps``: the monthly RS_/RC_ dumps of ``months`` from a mirror."""

    months: list[str] = flag(help="YYYY-MM months", nargs="+", positional=True)
    dest: Path = flag(Path("dumps"), "dumps folder (S)", kind=Path)
    base_url: str = flag(help="mirror URL with submissions/ and comments/ folders")
    suffix: str = flag(".zst", "file suffix on the mirror")
    retries: int = flag(3, _RETRIES, kind=int)


COMMANDS = {"keys": (KeysConfig, "the key archive keys-SIZE.tar, unpacked into --dest"),
            "ids": (IdsConfig, "a released id file"),
            "dumps": (DumpsConfig, "monthly RS_/RC_ dumps")}


def build_parser():
    parser = make_parser("python -m dialogpt.extraction.fetch", __doc__)
    commands = parser.add_subparsers(dest="command", required=True, help="what to download")
    for name, (config_class, help) in COMMANDS.items():
        add_flags(commands.add_parser(name, help=help, formatter_class=HelpFormatter),
                  config_class)
    return parser


def parse_command(argv=None) -> KeysConfig | IdsConfig | DumpsConfig:
    """The config of the command named first in ``argv``."""
    values = vars(build_parser().parse_args(argv))
    return validated(COMMANDS[values.pop("command")][0](**values))


def main(argv=None) -> int:
    config = parse_command(argv)
    setup_logging()
    if isinstance(config, KeysConfig):
        from dialogpt.extraction.key_archives import fetch_keys
        fetch_keys(config.size, config.dest, config.months, config.url or None,
                   config.archive_dir, config.sha256 or None, config.retries)
    elif isinstance(config, IdsConfig):
        fetch_id_file(config.name, config.dest, config.base_url, config.retries)
    else:
        fetch_dumps(config.months, config.dest, config.base_url, config.suffix, config.retries)
    return 0


if __name__ == "__main__":
    raise SystemExit(run_main(main))
