"""Toasts never cover a dialog: while one is up they wait, and show when it closes.

At 80x24 a dialog is as wide as the screen and toasts stack up from its bottom right, over
the reason an operator is typing. So while a :class:`~agentconsole.tui.modals.Dialog` is
the screen in front, :class:`ToastHold` keeps every notification back (the dialog says how
many: "2 notices held until this dialog closes"), takes back those still showing when it
opened, and shows them all once the dialog closes: nothing covers a field, nothing is lost.
The app routes ``notify`` through :meth:`ToastHold.notify` and calls :meth:`screen_changed`
from Textual's ``screen_change_signal``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from textual.app import App
    from textual.screen import Screen

HELD_MAX = 20  # a dialog left open for an hour releases the newest of these, and a count
SHOWN_AT_ONCE = 4  # what a 24-row screen shows without the stack running off its top


@dataclass
class Toast:
    """A notification as ``App.notify`` takes it, kept while a dialog is up."""

    message: str
    title: str
    severity: str
    timeout: float
    markup: bool
    at: float = 0.0  # time.monotonic() when shown


class ToastHold:
    """The app's notifications while dialogs come and go (see the module docstring)."""

    def __init__(self, app: App[Any], show: Any) -> None:
        self.app = app
        self._show = show  # the app's own notify (Textual's), called with a Toast's fields
        self.holding = False
        self.held: list[Toast] = []
        self.dropped = 0  # held beyond HELD_MAX (the oldest): counted in the release
        self._showing: list[Toast] = []

    def notify(self, notice: Toast) -> None:
        if self.holding:
            self.held.append(notice)
            if len(self.held) > HELD_MAX:
                self.dropped += len(self.held) - HELD_MAX
                del self.held[:-HELD_MAX]
            self._tell_dialog()
            return
        notice.at = time.monotonic()
        showing = [n for n in self._showing if not _expired(n)]
        self._showing = [*showing[-HELD_MAX:], notice]
        self._show(notice)

    def screen_changed(self, screen: Screen[Any]) -> None:
        from agentconsole.tui.modals import Dialog

        if isinstance(screen, Dialog):
            if not self.holding:
                self.holding = True
                # those on screen now would cover the dialog: shown again when it closes
                self.held = [n for n in self._showing if not _expired(n)] + self.held
                self._showing = []
                self.app.clear_notifications()
            self._tell_dialog()
        elif self.holding:
            self.release()

    def release(self) -> None:
        held, dropped = self.held, self.dropped
        self.holding, self.held, self.dropped = False, [], 0
        hidden = dropped + max(0, len(held) - SHOWN_AT_ONCE)
        if hidden:
            self.notify(
                Toast(
                    f"{hidden} earlier notice{'s' * (hidden != 1)} arrived while a dialog was "
                    "open; the newest are shown, the audit view has every change",
                    "while the dialog was open",
                    "information",
                    8.0,
                    False,
                )
            )
        for notice in held[-SHOWN_AT_ONCE:]:
            self.notify(notice)

    def _tell_dialog(self) -> None:
        from agentconsole.tui.modals import Dialog

        screen = self.app.screen
        if isinstance(screen, Dialog):
            screen.show_held(len(self.held) + self.dropped)


def _expired(notice: Toast) -> bool:
    return time.monotonic() - notice.at >= notice.timeout
