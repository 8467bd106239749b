"""``run_main`` ends every fault in one line, and ``check_paths`` refuses wrong paths up front."""

from __future__ import annotations

import errno
import os
import signal

import pytest

from dialogpt.cli import UserError, check_paths, run_main


def test_keyboard_interrupt_is_one_line_exit_130(capsys):
    def main(argv):
        raise KeyboardInterrupt

    assert run_main(main, []) == 130
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1 and "Ctrl-C" in err


def test_sigterm_is_one_line_exit_143_and_finally_blocks_run(capsys):
    cleaned = []

    def main(argv):
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            raise AssertionError("SIGTERM did not interrupt")
        finally:
            cleaned.append(True)

    previous = signal.getsignal(signal.SIGTERM)
    assert run_main(main, []) == 143
    assert cleaned == [True] and signal.getsignal(signal.SIGTERM) is previous
    assert "SIGTERM" in capsys.readouterr().err


def test_disk_full_anywhere_is_one_message_exit_2(capsys):
    def main(argv):
        raise OSError(errno.ENOSPC, "No space left on device", "/data/out.txt")

    assert run_main(main, []) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: no space left writing /data/out.txt") and "Traceback" not in err


def test_other_os_errors_still_raise():
    def main(argv):
        raise OSError(errno.EIO, "I/O error")

    with pytest.raises(OSError):
        run_main(main, [])


def test_wrong_kinds_of_path(tmp_path):
    a_file = tmp_path / "f.txt"
    a_file.write_text("x")
    with pytest.raises(UserError, match="--output .* is a directory"):
        check_paths(output_files={"--output": tmp_path})
    with pytest.raises(UserError, match="--output_dir .* is a file"):
        check_paths(output_dirs={"--output_dir": a_file})
    with pytest.raises(UserError, match="--corpus .* is a directory"):
        check_paths(input_files={"--corpus": tmp_path})
    with pytest.raises(UserError, match="--input_dir .* is a file"):
        check_paths(input_dirs={"--input_dir": a_file})
    with pytest.raises(UserError, match="does not exist"):
        check_paths(input_files={"--input": tmp_path / "missing"})
    with pytest.raises(UserError, match="f.txt is a file, not a directory"):
        check_paths(output_files={"--output": a_file / "out.txt"})
    check_paths(input_files={"--input": a_file, "--keys": None},
                output_files={"--output": tmp_path / "new" / "out.txt"})


def test_output_equal_to_input_is_refused_by_path_and_by_inode(tmp_path):
    source = tmp_path / "in.txt"
    source.write_text("x")
    with pytest.raises(UserError, match="same file as --input"):
        check_paths(input_files={"--input": source},
                    output_files={"--output": tmp_path / "sub" / ".." / "in.txt"})
    (tmp_path / "link.txt").symlink_to(source)
    os.link(source, tmp_path / "hard.txt")
    for alias in ("link.txt", "hard.txt"):
        with pytest.raises(UserError, match="destroy the input"):
            check_paths(input_files={"--hyp": source},
                        output_files={"--per_segment": tmp_path / alias})
