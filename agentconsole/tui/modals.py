"""Dialogs: confirmation of destructive actions, rollout with a live preview, help.

A confirmation names the exact targets and their count (including rows the filter hides),
asks for a reason, and defaults to Cancel: escape cancels, and enter walks from the reason
to the Cancel button, never to the confirm button.
While any of these is open the app pauses refresh (see ``ConsoleApp.on_fetched``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from rich.text import Text
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static

from agentconsole.tui.safe import clean

MAX_LISTED = 12


@dataclass
class Decision:
    reason: str
    duration: float | None = None  # seconds, when the dialog asked for one
    value: str = ""


def target_lines(targets: list[str], total: int | None = None) -> Text:
    total = len(targets) if total is None else total
    out = Text()
    for t in targets[:MAX_LISTED]:
        out.append(f"  • {clean(t, 70)}\n")
    if total > min(len(targets), MAX_LISTED):
        out.append(f"  … and {total - min(len(targets), MAX_LISTED)} more\n", "dim")
    return out


def parse_duration(text: str) -> float | None:
    """'90', '90s', '5m', '2h' -> seconds; '' -> None (no deadline)."""
    text = text.strip().lower()
    if not text:
        return None
    scale = {"s": 1, "m": 60, "h": 3600}.get(text[-1])
    number = text[:-1] if scale else text
    value = float(number) * (scale or 1)
    if value <= 0:
        raise ValueError("duration must be positive")
    return value


class ConfirmScreen(ModalScreen[Decision | None]):
    """Destructive action: the question, the targets, a reason; Cancel has the focus."""

    BINDINGS: ClassVar[list[Binding]] = [
        Binding("escape", "cancel", "Cancel", id="confirm.cancel"),
        Binding("ctrl+y", "confirm", "Confirm", id="confirm.confirm"),
    ]
    DEFAULT_CSS = """
    ConfirmScreen { align: center middle; }
    ConfirmScreen > Vertical { width: 80; height: auto; max-height: 90%;
        border: thick $error; background: $surface; padding: 1 2; }
    ConfirmScreen #confirm-title { text-style: bold; color: $error; }
    ConfirmScreen #confirm-targets { height: auto; max-height: 14; }
    ConfirmScreen Input { margin: 1 0 0 0; }
    ConfirmScreen #confirm-buttons { height: auto; align-horizontal: right; margin-top: 1; }
    ConfirmScreen Button { margin-left: 2; }
    ConfirmScreen #confirm-error { color: $error; }
    """

    def __init__(
        self,
        title: str,
        targets: list[str],
        *,
        total: int | None = None,
        detail: str = "",
        verb: str = "Confirm",
        ask_duration: bool = False,
    ) -> None:
        super().__init__()
        self.title_text = title
        self.targets = targets
        self.total = total
        self.detail = detail
        self.verb = verb
        self.ask_duration = ask_duration

    def compose(self):
        with Vertical():
            yield Static(Text(clean(self.title_text, 200)), id="confirm-title")
            with VerticalScroll(id="confirm-targets"):
                yield Static(target_lines(self.targets, self.total))
            if self.detail:
                yield Static(Text(clean(self.detail, 300), style="italic"), id="confirm-detail")
            yield Input(placeholder="reason (recorded in the audit log)", id="reason")
            if self.ask_duration:
                yield Input(
                    placeholder="for how long: e.g. 10m, 1h (empty: until reset)", id="duration"
                )
            yield Static("", id="confirm-error")
            with Horizontal(id="confirm-buttons"):
                yield Button("Cancel", id="cancel", variant="primary")
                yield Button(self.verb, id="confirm", variant="error")

    def on_mount(self) -> None:
        # typing goes to the reason; enter only moves on (reason, duration, Cancel), so a
        # reflexive enter lands on Cancel and cancels: confirming takes tab or ctrl+y
        self.query_one("#reason", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        # enter in a field moves on; it never confirms by accident
        event.stop()
        self.focus_next()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "confirm":
            self.action_confirm()
        else:
            self.action_cancel()

    def action_cancel(self) -> None:
        self.dismiss(None)

    def action_confirm(self) -> None:
        reason = self.query_one("#reason", Input).value.strip()
        duration = None
        if self.ask_duration:
            try:
                duration = parse_duration(self.query_one("#duration", Input).value)
            except ValueError:
                self.query_one("#confirm-error", Static).update(
                    Text("duration: use a number of seconds or 10m / 2h")
                )
                return
        self.dismiss(Decision(reason, duration))


class RolloutScreen(ModalScreen[Decision | None]):
    """New rollout percentage with a live preview over the recent users/agents."""

    BINDINGS: ClassVar[list[Binding]] = [
        Binding("escape", "cancel", "Cancel", id="rollout.cancel"),
        Binding("ctrl+y", "confirm", "Apply", id="rollout.confirm"),
    ]
    DEFAULT_CSS = """
    RolloutScreen { align: center middle; }
    RolloutScreen > Vertical { width: 76; height: auto; border: thick $warning;
        background: $surface; padding: 1 2; }
    RolloutScreen #rollout-title { text-style: bold; }
    RolloutScreen #rollout-buttons { height: auto; align-horizontal: right; margin-top: 1; }
    RolloutScreen Button { margin-left: 2; }
    """

    def __init__(
        self,
        flag: Any,
        population: list[str],
        what: str,
        preview: Callable[[Any, int, list[str]], int],
    ) -> None:
        super().__init__()
        self.flag = flag
        self.population = population
        self.what = what
        self.preview_fn = preview

    def compose(self):
        with Vertical():
            yield Static(
                Text(f"Rollout of {clean(self.flag.name, 60)} (now {self.flag.rollout})"),
                id="rollout-title",
            )
            yield Input(placeholder="new percentage, e.g. 25 or 2.5", id="percent")
            yield Static("", id="preview")
            yield Input(placeholder="reason (recorded in the audit log)", id="reason")
            with Horizontal(id="rollout-buttons"):
                yield Button("Cancel", id="cancel", variant="primary")
                yield Button("Apply", id="apply", variant="warning")

    def on_mount(self) -> None:
        self.query_one("#percent", Input).focus()
        self.update_preview("")

    def update_preview(self, value: str) -> None:
        from agentconsole.control.bucketing import parse_percent

        preview = self.query_one("#preview", Static)
        n = len(self.population)
        now_in = self.preview_fn(self.flag, self.flag.rollout_bp, self.population)
        if not value.strip():
            preview.update(Text(f"now {now_in} of {n} recent {self.what} are in the canary"))
            return
        try:
            bp = parse_percent(value)
        except ValueError as exc:
            preview.update(Text(clean(str(exc), 100), style="red"))
            return
        new_in = self.preview_fn(self.flag, bp, self.population)
        preview.update(
            Text(f"{new_in} of {n} recent {self.what} in the canary (now {now_in})", style="bold")
        )

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "percent":
            self.update_preview(event.value)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.focus_next()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "apply":
            self.action_confirm()
        else:
            self.action_cancel()

    def action_cancel(self) -> None:
        self.dismiss(None)

    def action_confirm(self) -> None:
        from agentconsole.control.bucketing import parse_percent

        value = self.query_one("#percent", Input).value
        try:
            parse_percent(value)
        except ValueError as exc:
            self.query_one("#preview", Static).update(Text(clean(str(exc), 100), style="red"))
            return
        self.dismiss(Decision(self.query_one("#reason", Input).value.strip(), value=value))


class HelpScreen(ModalScreen[None]):
    """`?`: every key in force on the screen it was opened from, and the `:` commands."""

    BINDINGS: ClassVar[list[Binding]] = [
        Binding("escape,q,question_mark", "close", "Close", id="help.close")
    ]
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll { width: 84; height: 80%; border: thick $accent;
        background: $surface; padding: 1 2; }
    """

    def __init__(self, keys: list[tuple[str, str]], commands: list[tuple[str, str]]) -> None:
        super().__init__()
        self.keys = keys
        self.commands = commands

    def compose(self):
        out = Text()
        out.append("Keys\n", "bold")
        for key, description in self.keys:
            out.append(f"  {key:<14}", "bold cyan")
            out.append(f"{description}\n")
        out.append("\nCommands (type : then a command, enter)\n", "bold")
        for names, description in self.commands:
            out.append(f"  {names:<34}", "bold cyan")
            out.append(f"{description}\n")
        out.append("\nFilter: / then a regex; !regex inverts; esc clears.\n", "dim")
        with VerticalScroll():
            yield Static(out)

    def action_close(self) -> None:
        self.dismiss(None)
