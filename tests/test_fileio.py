"""Atomic writes leave either the old file or the whole new one, never a partial file."""

from __future__ import annotations

import pytest

from dialogpt.cli import str2bool
from dialogpt.fileio import atomic_dir, atomic_write


def test_atomic_write_replaces_on_success(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with atomic_write(target) as handle:
        handle.write("new")
        assert target.read_text() == "old"
    assert target.read_text() == "new"
    assert list(tmp_path.iterdir()) == [target]


def test_atomic_write_keeps_old_file_on_error(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_write(target) as handle:
            handle.write("half")
            raise RuntimeError("crash")
    assert target.read_text() == "old"
    assert list(tmp_path.iterdir()) == [target]


def test_atomic_dir(tmp_path):
    target = tmp_path / "db"
    with atomic_dir(target) as tmp:
        (tmp / "a").write_text("1")
        assert not target.exists()
    assert (target / "a").read_text() == "1"
    with pytest.raises(FileExistsError):
        with atomic_dir(target):
            pass
    with pytest.raises(RuntimeError):
        with atomic_dir(target, overwrite=True) as tmp:
            (tmp / "b").write_text("2")
            raise RuntimeError("crash")
    assert sorted(p.name for p in target.iterdir()) == ["a"]
    assert [p.name for p in tmp_path.iterdir()] == ["db"]


@pytest.mark.parametrize("text,value", [("true", True), ("False", False), ("1", True),
                                        ("no", False), ("YES", True)])
def test_str2bool(text, value):
    assert str2bool(text) is value


def test_outputs_get_the_usual_permissions(tmp_path):
    import os

    umask = os.umask(0o022)
    try:
        with atomic_write(tmp_path / "f") as handle:
            handle.write("x")
        with atomic_dir(tmp_path / "d"):
            pass
    finally:
        os.umask(umask)
    assert (tmp_path / "f").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "d").stat().st_mode & 0o777 == 0o755


# --- issue 14: leftovers of killed processes, disk full, damaged copies, file modes ---

import errno  # noqa: E402
import logging  # noqa: E402
import os  # noqa: E402
import signal  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402

from dialogpt import fileio  # noqa: E402
from dialogpt.cli import UserError  # noqa: E402
from dialogpt.fileio import (NoSpaceError, remove_stale_temps, verify_manifest,  # noqa: E402
                             write_manifest)


def test_temporaries_of_a_killed_process_are_removed_by_the_next_write(tmp_path, caplog):
    writer = subprocess.Popen(
        [sys.executable, "-c", "import time\nfrom dialogpt.fileio import atomic_dir\n"
         f"with atomic_dir({str(tmp_path / 'ckpt')!r}) as tmp:\n"
         "    (tmp / 'model.safetensors').write_bytes(b'x' * 4096)\n"
         "    print('writing', flush=True)\n    time.sleep(60)\n"],
        stdout=subprocess.PIPE, text=True)
    assert writer.stdout.readline().strip() == "writing"
    leftover = [p.name for p in tmp_path.iterdir()]
    assert len(leftover) == 1 and leftover[0].startswith(".ckpt.")
    assert remove_stale_temps(tmp_path) == []  # its writer is alive: kept
    fileio._swept.clear()
    os.kill(writer.pid, signal.SIGKILL)
    writer.wait()
    with caplog.at_level(logging.WARNING):
        with atomic_write(tmp_path / "other.txt") as handle:
            handle.write("x")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.txt"]
    assert "removed 1 unfinished temporary output(s) of dead processes" in caplog.text
    assert leftover[0] in caplog.text


def test_disk_full_during_a_write_names_the_destination(tmp_path, monkeypatch):
    target = tmp_path / "out.txt"
    target.write_text("old")

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(fileio.os, "fsync", full)
    with pytest.raises(NoSpaceError, match=f"no space left writing {target}"):
        with atomic_write(target) as handle:
            handle.write("new")
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["out.txt"]
    assert issubclass(NoSpaceError, UserError)


def test_torch_style_write_failure_on_a_full_disk_is_disk_full(tmp_path, monkeypatch):
    monkeypatch.setattr(fileio.shutil, "disk_usage",
                        lambda path: type("U", (), {"free": 1024, "total": 1, "used": 1})())
    with pytest.raises(NoSpaceError, match="no space left writing .*ckpt"):
        with atomic_dir(tmp_path / "ckpt"):
            raise RuntimeError("[enforce fail at inline_container.cc:672] . PytorchStreamWriter "
                               "failed writing file data/0: file write failed")
    assert list(tmp_path.iterdir()) == []


def test_atomic_dir_gives_private_library_files_the_umask_mode(tmp_path):
    umask = os.umask(0o022)
    try:
        with atomic_dir(tmp_path / "model") as tmp:
            (tmp / "model.safetensors").write_bytes(b"x")
            (tmp / "model.safetensors").chmod(0o600)  # what safetensors does
    finally:
        os.umask(umask)
    assert (tmp_path / "model" / "model.safetensors").stat().st_mode & 0o777 == 0o644


def test_manifest_detects_truncated_and_overwritten_files(tmp_path):
    (tmp_path / "a.bin").write_bytes(b"0123456789")
    (tmp_path / "b.json").write_text("{}")
    assert verify_manifest(tmp_path) is False  # none written yet
    write_manifest(tmp_path)
    assert verify_manifest(tmp_path) is True
    (tmp_path / "a.bin").write_bytes(b"01234")
    with pytest.raises(UserError, match=r"a.bin is damaged: 5 bytes, 10 when it was written"):
        verify_manifest(tmp_path)
    assert verify_manifest(tmp_path, only=["b.json"]) is True
    (tmp_path / "a.bin").write_bytes(b"0123456780")
    with pytest.raises(UserError, match="a.bin is damaged: its sha256 differs"):
        verify_manifest(tmp_path)
    (tmp_path / "a.bin").unlink()
    with pytest.raises(UserError, match="a.bin is missing"):
        verify_manifest(tmp_path)
