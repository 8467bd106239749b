"""The run lock: one run per output, a clear error naming the owner, stale locks taken over."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys

import pytest

from dialogpt.cli import UserError
from dialogpt.locking import RunLock, hold_run_lock, lock_file_for


def test_second_lock_fails_at_once_naming_the_owner(tmp_path):
    with hold_run_lock(tmp_path / "out", flag="--output_dir"):
        owner = json.loads(lock_file_for(tmp_path / "out").read_text())
        assert owner["pid"] == os.getpid()
        with pytest.raises(UserError) as error:
            RunLock(tmp_path / "out", flag="--output_dir").acquire()
        message = str(error.value)
        assert "--output_dir" in message and "in use by another run" in message
        assert f"process {os.getpid()}" in message
    assert not lock_file_for(tmp_path / "out").exists()  # released and removed
    with hold_run_lock(tmp_path / "out"):  # free again
        pass


def test_lock_held_by_another_process_is_refused(tmp_path):
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\nfrom dialogpt.locking import RunLock\n"
         f"RunLock({str(tmp_path)!r}).acquire()\nprint('held', flush=True)\ntime.sleep(60)"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(UserError, match=f"process {holder.pid} "):
            RunLock(tmp_path).acquire()
    finally:
        holder.kill()
        holder.wait()
    with hold_run_lock(tmp_path):  # the kernel dropped the dead owner's lock
        pass


def test_stale_lock_of_dead_process_is_taken_over_with_a_note(tmp_path, caplog):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    lock_file_for(tmp_path).write_text(json.dumps({"pid": dead.pid, "host": "h",
                                                   "command": "LSP_train.py"}))
    with caplog.at_level(logging.WARNING), hold_run_lock(tmp_path):
        pass
    assert f"process {dead.pid}" in caplog.text and "no longer running" in caplog.text


def test_sibling_lock_for_outputs_renamed_into_place(tmp_path):
    assert lock_file_for(tmp_path / "x.db", inside=False) == tmp_path / ".x.db.lock"
    with hold_run_lock(tmp_path / "x.db", inside=False):
        assert not (tmp_path / "x.db").exists()
        with pytest.raises(UserError):
            RunLock(tmp_path / "x.db", inside=False).acquire()
