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

from pathlib import Path

from dialogpt.cli import HelpFormatter, UserError, run_main, setup_logging

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


def build_parser():
    import argparse
    parser = argparse.ArgumentParser(prog="python -m dialogpt.extraction.fetch",
                                     description=__doc__, formatter_class=HelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True, help="what to download")
    keys = commands.add_parser("keys", help="the key archive keys-SIZE.tar, unpacked into --dest",
                               formatter_class=HelpFormatter)
    keys.add_argument("size", choices=["small", "full"], help="which data set's keys")
    keys.add_argument("--dest", type=Path, default=Path("keys"), help="key folder (K)")
    keys.add_argument("--months", nargs="*", default=[],
                      help="months that need key files; when all are in --dest already, nothing "
                           "is downloaded")
    keys.add_argument("--url", nargs="*", default=None,
                      help="archive URLs tried in turn (default: the original release's)")
    keys.add_argument("--archive_dir", type=Path, default=None,
                      help="where keys-SIZE.tar is kept (default: the parent of --dest)")
    keys.add_argument("--sha256", default=None, help="expected sha256 of the archive")
    keys.add_argument("--retries", type=int, default=3, help="further attempts after a failure")
    ids = commands.add_parser("ids", help="a released id file", formatter_class=HelpFormatter)
    ids.add_argument("name", choices=sorted(ID_FILE_SHA256), help="which file")
    ids.add_argument("--dest", type=Path, required=True, help="where to write it")
    ids.add_argument("--base_url", default=IDS_BASE_URL, help="folder URL holding the id files")
    ids.add_argument("--retries", type=int, default=3, help="further attempts after a failure")
    dumps = commands.add_parser("dumps", help="monthly RS_/RC_ dumps",
                                formatter_class=HelpFormatter)
    dumps.add_argument("months", nargs="+", help="YYYY-MM months")
    dumps.add_argument("--dest", type=Path, default=Path("dumps"), help="dumps folder (S)")
    dumps.add_argument("--base_url", required=True,
                       help="mirror URL with submissions/ and comments/ folders")
    dumps.add_argument("--suffix", default=".zst", help="file suffix on the mirror")
    dumps.add_argument("--retries", type=int, default=3, help="further attempts after a failure")
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging()
    if args.command == "keys":
        from dialogpt.extraction.key_archives import fetch_keys
        fetch_keys(args.size, args.dest, args.months, args.url or None, args.archive_dir,
                   args.sha256 or None, args.retries)
    elif args.command == "ids":
        fetch_id_file(args.name, args.dest, args.base_url, args.retries)
    else:
        fetch_dumps(args.months, args.dest, args.base_url, args.suffix, args.retries)
    return 0


if __name__ == "__main__":
    raise SystemExit(run_main(main))
