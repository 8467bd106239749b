"""Downloads against a local HTTP server on 127.0.0.1: resume, bounded retries, checksums."""

from __future__ import annotations

import hashlib
import http.server
import threading

import pytest

from dialogpt.download import DownloadError, download

PAYLOAD = bytes(range(256)) * 400  # 102,400 bytes
SHA = hashlib.sha256(PAYLOAD).hexdigest()


class _Handler(http.server.BaseHTTPRequestHandler):
    """Serves PAYLOAD at /data.bin with Range support; /flaky fails the first N requests;
    /cut sends only half its body on the first request."""

    state = {"flaky": 0, "cut": 0, "requests": [], "ranges": []}

    def log_message(self, *args):
        pass

    def do_GET(self):
        state = self.state
        state["requests"].append(self.path)
        state["ranges"].append(self.headers.get("Range"))
        if self.path == "/missing":
            self.send_error(404)
            return
        if self.path == "/flaky" and state["flaky"] > 0:
            state["flaky"] -= 1
            self.send_error(503)
            return
        start = 0
        if self.headers.get("Range"):
            start = int(self.headers["Range"].split("=")[1].split("-")[0])
        body = PAYLOAD[start:]
        self.send_response(206 if start else 200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.path == "/cut" and state["cut"] > 0:
            state["cut"] -= 1
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.connection.shutdown(2)
            return
        self.wfile.write(body)


@pytest.fixture
def server():
    _Handler.state = {"flaky": 0, "cut": 0, "requests": [], "ranges": []}
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", _Handler.state
    httpd.shutdown()
    httpd.server_close()


def test_download_with_checksum(server, tmp_path):
    base, _ = server
    dest = download(f"{base}/data.bin", tmp_path / "data.bin", sha256=SHA, progress=False)
    assert dest.read_bytes() == PAYLOAD
    assert not (tmp_path / "data.bin.part").exists()


def test_existing_file_is_not_downloaded_again(server, tmp_path):
    base, state = server
    (tmp_path / "data.bin").write_bytes(PAYLOAD)
    download(f"{base}/data.bin", tmp_path / "data.bin", sha256=SHA, progress=False)
    assert state["requests"] == []


def test_partial_file_resumes_with_range(server, tmp_path):
    base, state = server
    (tmp_path / "data.bin.part").write_bytes(PAYLOAD[:1000])
    download(f"{base}/data.bin", tmp_path / "data.bin", sha256=SHA, progress=False)
    assert state["ranges"] == ["bytes=1000-"]
    assert (tmp_path / "data.bin").read_bytes() == PAYLOAD


def test_cut_connection_resumes_on_retry(server, tmp_path):
    base, state = server
    state["cut"] = 1
    download(f"{base}/cut", tmp_path / "cut.bin", sha256=SHA, progress=False, backoff=0)
    assert state["ranges"][0] is None and state["ranges"][1].startswith("bytes=")
    assert (tmp_path / "cut.bin").read_bytes() == PAYLOAD


def test_retries_are_bounded(server, tmp_path):
    base, state = server
    state["flaky"] = 10
    with pytest.raises(DownloadError, match="after 3 attempts"):
        download(f"{base}/flaky", tmp_path / "f.bin", retries=2, progress=False, backoff=0)
    assert len(state["requests"]) == 3
    assert not (tmp_path / "f.bin").exists()


def test_transient_errors_are_retried(server, tmp_path):
    base, state = server
    state["flaky"] = 2
    download(f"{base}/flaky", tmp_path / "f.bin", retries=3, progress=False, backoff=0)
    assert (tmp_path / "f.bin").read_bytes() == PAYLOAD


def test_not_found_is_not_retried(server, tmp_path):
    base, state = server
    with pytest.raises(DownloadError, match="404"):
        download(f"{base}/missing", tmp_path / "m.bin", retries=5, progress=False, backoff=0)
    assert len(state["requests"]) == 1


def test_checksum_mismatch_deletes_the_data(server, tmp_path):
    base, _ = server
    with pytest.raises(DownloadError, match="does not match"):
        download(f"{base}/data.bin", tmp_path / "d.bin", sha256="0" * 64, progress=False)
    assert not (tmp_path / "d.bin").exists() and not (tmp_path / "d.bin.part").exists()


def test_failure_message_mentions_a_part_file_only_when_one_exists(server, tmp_path):
    base, state = server
    state["flaky"] = 10
    with pytest.raises(DownloadError, match="No data was received") as info:
        download(f"{base}/flaky", tmp_path / "f.bin", retries=0, progress=False, backoff=0)
    assert ".part" not in str(info.value) and not (tmp_path / "f.bin.part").exists()
    state["cut"] = 10
    with pytest.raises(DownloadError, match=r"51200 bytes received are kept in .*c\.bin\.part"):
        download(f"{base}/cut", tmp_path / "c.bin", retries=0, progress=False, backoff=0)
    assert (tmp_path / "c.bin.part").stat().st_size == 51200
