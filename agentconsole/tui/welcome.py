"""The demo's first screen: what is real, what is simulated, what to try, how to attach."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static


class WelcomeScreen(ModalScreen[None]):
    """Any of Enter, Escape or Space closes it; the console behind starts refreshing."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter,escape,space", "close", "Start", id="welcome.close"),
    ]
    DEFAULT_CSS = """
    WelcomeScreen { align: center middle; }
    WelcomeScreen > Vertical { width: 90%; max-width: 100; height: auto; max-height: 90%;
        border: thick $accent; background: $surface; padding: 1 2; }
    WelcomeScreen #welcome-title { text-style: bold; padding-bottom: 1; }
    """

    def __init__(self, text: str, title: str = "agentconsole demo · Enter to start") -> None:
        super().__init__()
        self.text, self.title_text = text, title

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self.title_text, id="welcome-title", markup=False)
            yield Static(self.text, id="welcome-text", markup=False)

    def action_close(self) -> None:
        self.dismiss(None)
