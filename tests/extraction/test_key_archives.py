"""Key archives fetched from a 127.0.0.1 server: unpacking, local keys, gone sources, make."""

from __future__ import annotations

import functools
import gzip
import hashlib
import http.server
import io
import shutil
import subprocess
import sys
import tarfile
import threading
from pathlib import Path

import pytest

from dialogpt.cli import UserError
from dialogpt.extraction.key_archives import fetch_keys, unpack_keys
from dialogpt.extraction.synthetic import write_synthetic_month

KEY_LINES = {"2011-01.gz": "t3_a\tt1_b\tdep\n", "2011-01-o.gz": "abc\n",
             "2011-02.gz": "t3_c\tt1_d\tkeep\n"}


def write_archive(path: Path) -> Path:
    """A tar laid out like the original (``data/keys/...``) plus members that must be skipped."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w") as tar:
        for name, text in KEY_LINES.items():
            data = gzip.compress(text.encode())
            info = tarfile.TarInfo(f"data/keys/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name in ("../../escape/2011-03.gz", "data/keys/README"):
            info = tarfile.TarInfo(name)
            info.size = 1 if name.endswith("README") else 0
            tar.addfile(info, io.BytesIO(b"x"))
    return path


@pytest.fixture
def server(tmp_path):
    root = tmp_path / "www"
    write_archive(root / "keys-small.tar")
    requests: list[str] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            requests.append(self.path)
            super().do_GET()

    httpd = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Handler, directory=str(root)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", requests
    httpd.shutdown()
    httpd.server_close()


def test_archive_is_fetched_and_unpacked_by_base_name(server, tmp_path):
    url, requests = server
    keys = tmp_path / "run" / "keys"
    stamp = fetch_keys("small", keys, ["2011-01", "2011-02"], [f"{url}/keys-small.tar"],
                       progress=False)
    assert stamp.is_file() and requests == ["/keys-small.tar"]
    names = sorted(p.name for p in keys.iterdir() if not p.name.startswith("."))
    assert names == sorted([*KEY_LINES, "2011-03.gz"])  # by base name: nothing lands outside K
    assert gzip.decompress((keys / "2011-02.gz").read_bytes()).decode() == KEY_LINES["2011-02.gz"]
    assert (tmp_path / "run" / "keys-small.tar").is_file()  # kept beside K, as the original did
    assert not (tmp_path / "escape").exists()


def test_checksum_is_checked_when_given(server, tmp_path):
    url, _ = server
    good = hashlib.sha256((tmp_path / "www" / "keys-small.tar").read_bytes()).hexdigest()
    fetch_keys("small", tmp_path / "k1", ["2011-01"], [f"{url}/keys-small.tar"], sha256=good,
               progress=False)
    with pytest.raises(UserError, match="sha256"):
        fetch_keys("small", tmp_path / "k2", ["2011-01"], [f"{url}/keys-small.tar"],
                   sha256="0" * 64, retries=0, progress=False)


def test_local_keys_need_no_download(server, tmp_path):
    url, requests = server
    keys = tmp_path / "keys"
    keys.mkdir()
    (keys / "2011-01.gz").write_bytes(gzip.compress(b""))
    fetch_keys("small", keys, ["2011-01"], [f"{url}/gone.tar"], progress=False)
    assert requests == []


def test_gone_sources_are_named_with_the_ways_on(server, tmp_path):
    url, requests = server
    with pytest.raises(UserError) as info:
        fetch_keys("full", tmp_path / "keys", ["2011-01"],
                   [f"{url}/gone-1.tar", f"{url}/gone-2.tar"], retries=0, progress=False)
    message = str(info.value)
    assert requests == ["/gone-1.tar", "/gone-2.tar"]  # 404 is not retried; each mirror tried
    for part in ("gone-1.tar", "gone-2.tar", "HTTP 404", "HASH_FLAG=--ignore_keys", "KEYS_URL",
                 str(tmp_path / "keys")):
        assert part in message


def test_archive_without_a_month_says_which(server, tmp_path):
    url, _ = server
    with pytest.raises(UserError, match="no key file for 1 month.*2011-05"):
        fetch_keys("small", tmp_path / "keys", ["2011-01", "2011-05"],
                   [f"{url}/keys-small.tar"], progress=False)


def test_damaged_archive_is_a_clear_error(tmp_path):
    bad = tmp_path / "keys-small.tar"
    bad.write_bytes(b"not a tar at all" * 10)
    with pytest.raises(UserError, match="not a readable tar"):
        unpack_keys(bad, tmp_path / "keys")


@pytest.mark.skipif(shutil.which("make") is None, reason="needs GNU make")
def test_make_fetches_the_keys_then_reuses_them(server, repo_root, tmp_path):
    url, requests = server
    write_synthetic_month(tmp_path / "dumps", "2011-01", 20, seed=0)
    settings = {"PYTHON": sys.executable, "S": tmp_path / "dumps", "T": tmp_path / "work",
                "K": tmp_path / "keys", "DATA": tmp_path / "data", "TRAIN_MONTHS": "2011-01",
                "KEYS_URL": f"{url}/gone.tar {url}/keys-small.tar"}

    def make(**extra):
        variables = settings | extra
        return subprocess.run(["make", "train", *(f"{k}={v}" for k, v in variables.items())],
                              cwd=repo_root / "reddit_extractor", capture_output=True, text=True,
                              timeout=120, check=False)

    result = make()
    assert result.returncode == 0, result.stderr
    assert requests == ["/gone.tar", "/keys-small.tar"]
    assert (tmp_path / "keys" / "2011-01.gz").is_file()
    assert (tmp_path / "data" / "train.tsv").is_file()
    assert make().returncode == 0 and len(requests) == 2  # stamp: nothing fetched again

    gone = make(K=tmp_path / "other" / "keys", T=tmp_path / "w2", DATA=tmp_path / "d2",
                KEYS_URL=f"{url}/gone.tar")
    assert gone.returncode != 0
    assert "HASH_FLAG=--ignore_keys" in gone.stderr and "Traceback" not in gone.stderr
