"""The console notices a terminal that went away without a SIGHUP reaching it."""

from __future__ import annotations

import os
import signal

from agentconsole.tui.terminal import TerminalWatch


def test_a_hung_up_terminal_is_gone_and_the_console_gets_one_sighup():
    master, slave = os.openpty()
    got: list[int] = []
    previous = signal.signal(signal.SIGHUP, lambda sig, frame: got.append(sig))
    try:
        watch = TerminalWatch(slave)
        watch.check()
        assert watch.was_terminal and not watch.gone() and got == []
        os.close(master)  # the terminal's side closes: the console's side is hung up
        assert watch.gone()
        watch.check()
        watch.check()  # once: the handler is already cleaning up
        assert got == [signal.SIGHUP]
    finally:
        signal.signal(signal.SIGHUP, previous)
        os.close(slave)


def test_what_was_never_a_terminal_is_never_gone():
    read_end, write_end = os.pipe()
    try:
        watch = TerminalWatch(read_end)
        assert not watch.was_terminal and not watch.gone()
    finally:
        os.close(read_end)
        os.close(write_end)
