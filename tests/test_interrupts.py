"""Signals: the first Ctrl-C/SIGTERM asks for a graceful stop, a second Ctrl-C stops at once."""

from __future__ import annotations

import os
import signal

import pytest

from dialogpt.interrupts import GracefulStop


def test_first_signal_requests_a_stop_second_ctrl_c_raises(capsys):
    previous = signal.getsignal(signal.SIGINT)
    with GracefulStop() as stop:
        assert not stop.requested
        os.kill(os.getpid(), signal.SIGINT)
        assert stop.requested and stop.exit_code == 130
        assert "Ctrl-C: stopping after the current step" in capsys.readouterr().err
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
    assert signal.getsignal(signal.SIGINT) is previous


def test_sigterm_exit_code_is_143_and_a_second_sigterm_is_ignored():
    with GracefulStop() as stop:
        os.kill(os.getpid(), signal.SIGTERM)
        os.kill(os.getpid(), signal.SIGTERM)
        assert stop.requested and stop.exit_code == 143
