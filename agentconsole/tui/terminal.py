"""Noticing that the terminal went away when no SIGHUP reached the console.

When a process sits between the terminal and the console (``make demo``: make is the
session leader), closing the terminal hangs up only that leader, and make then waits for
its child. The console would keep running with its input at end of file, and Textual's
input thread would spin a core. So the console checks its terminal, and once the terminal
is gone it sends itself the SIGHUP it missed: the demo's handler stops its servers and
cleans up, and a plain console ends as it would on any hangup.
"""

from __future__ import annotations

import os
import signal
import sys

CHECK_SECONDS = 1.0


class TerminalWatch:
    """Watches one file descriptor that was a terminal when the console started."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.was_terminal = os.isatty(fd)
        self.hung_up = False

    def gone(self) -> bool:
        """The descriptor was a terminal and is one no longer (hung up, or closed)."""
        return self.was_terminal and not os.isatty(self.fd)

    def check(self) -> None:
        """Send this process one SIGHUP once the terminal is gone."""
        if not self.hung_up and self.gone():
            self.hung_up = True
            os.kill(os.getpid(), signal.SIGHUP)


def watch_stdin() -> TerminalWatch | None:
    """A watch on standard input when it is a terminal (None under a pipe or in tests)."""
    stream = sys.__stdin__
    try:
        fd = stream.fileno() if stream is not None else -1
    except (OSError, ValueError):  # closed, or a stand-in without a descriptor
        return None
    if fd < 0:
        return None
    watch = TerminalWatch(fd)
    return watch if watch.was_terminal else None
