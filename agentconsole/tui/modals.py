"""Dialogs: the one confirmation of operations and a pick-one list (help: ``tui/help.py``).

Every screen that asks the operator something is a :class:`Dialog`: while one is in front
the app holds its toasts (``tui/toasts.py``: none covers the field being typed; the dialog
says how many wait), it closes exactly once (a burst of keys, such as a paste in a
terminal without bracketed paste where each newline is an Enter, cannot close it twice),
and a paste into one of its fields (:class:`PasteInput`) is kept whole: cleaned by the one
sanitiser (line breaks shown as ``␤``) and bounded, never silently cut to its first line.

:class:`ConfirmScreen` asks what an operation still needs (a duration, a percentage, new
weights, prefilled when there is a sensible start) and a reason. For a destructive
operation it names the exact targets and their count (including rows the filter hides).
A live ``hint`` under the fields previews the effect; ``validate`` refuses before it
closes. Escape cancels; enter moves from field to field, and enter in the last field (the
reason) confirms. :class:`ChoiceScreen` picks one of a few labelled choices (a digit each)
before that. While either is open the app pauses refresh (see ``ConsoleApp.on_fetched``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, OptionList, Static
from textual.widgets.option_list import Option

from agentconsole.control.applier import REASON_MAX
from agentconsole.tui.safe import clean

MAX_LISTED = 12
ResultT = TypeVar("ResultT")


class PasteInput(Input):
    """An input that keeps a paste whole: one line, cleaned and bounded (Textual's keeps the
    first line and drops the rest without a word). ``max_length`` bounds typing too."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max_length", REASON_MAX)
        super().__init__(*args, **kwargs)

    def on_paste(self, event: events.Paste) -> None:
        event.stop()
        event.prevent_default()  # not Input's own handler (first line only)
        start, end = sorted(self.selection)
        room = (self.max_length or REASON_MAX) - (len(self.value) - (end - start))
        if room <= 0 or not event.text:
            self.app.bell()
            return
        pasted = clean(event.text, room)
        if start == end:
            self.insert_text_at_cursor(pasted)
        else:
            self.replace(pasted, start, end)


class Dialog(ModalScreen[ResultT]):
    """A screen that asks the operator something (see the module docstring)."""

    DEFAULT_CSS = """
    Dialog .held-note { color: $text-muted; height: auto; }
    Dialog .held-note.-none { display: none; }
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.held = 0
        self.closed = False

    def held_note(self) -> Static:
        """The line that says how many toasts wait for this dialog to close."""
        note = Static("", classes="held-note -none", markup=False)
        self._paint_held(note)
        return note

    def show_held(self, count: int) -> None:
        self.held = count
        for note in self.query(".held-note"):
            if isinstance(note, Static):
                self._paint_held(note)

    def _paint_held(self, note: Static) -> None:
        n = self.held
        note.update(f"{n} notice{'s' * (n != 1)} held until this dialog closes" if n else "")
        note.set_class(not n, "-none")

    def close(self, result: ResultT) -> None:
        """Dismiss once; a second close (the rest of a burst of keys) does nothing."""
        if self.closed or self.app.screen is not self:
            return
        self.closed = True
        self.dismiss(result)

    def submitted_here(self, event: Input.Submitted) -> bool:
        """Enter in the field that has the focus now; a stale one (queued in a burst before
        the focus moved on) must not move it again or confirm."""
        return not self.closed and event.input is self.focused


@dataclass
class Decision:
    reason: str
    values: dict[str, str] = field(default_factory=dict)  # field id -> what was typed


@dataclass(frozen=True)
class Field:
    """One input the dialog asks for (an operation's parameter): ``id`` is the widget id."""

    id: str
    placeholder: str
    value: str = ""  # prefilled (the weights now, a default plan); empty: typed from scratch


def target_lines(targets: list[str], total: int | None = None) -> Text:
    total = len(targets) if total is None else total
    out = Text()
    for t in targets[:MAX_LISTED]:
        out.append(f"  • {clean(t, 70)}\n")
    if total > min(len(targets), MAX_LISTED):
        out.append(f"  … and {total - min(len(targets), MAX_LISTED)} more\n", "dim")
    return out


class ConfirmScreen(Dialog[Decision | None]):
    """An operation about to run: the question, the targets, its inputs and a reason."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="confirm.cancel"),
        Binding("ctrl+y", "confirm", "Confirm", id="confirm.confirm"),
    ]
    DEFAULT_CSS = """
    ConfirmScreen { align: center middle; }
    ConfirmScreen > Vertical { width: 80; height: auto; max-height: 90%;
        border: thick $error; background: $surface; padding: 1 2; }
    ConfirmScreen.calm > Vertical { border: thick $warning; }
    ConfirmScreen #confirm-title { text-style: bold; color: $error; }
    ConfirmScreen.calm #confirm-title { color: $text; }
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
        fields: tuple[Field, ...] = (),
        validate: Callable[[dict[str, str]], str | None] | None = None,
        hint: Callable[[dict[str, str]], str] | None = None,
        destructive: bool = True,
    ) -> None:
        super().__init__(classes="" if destructive else "calm")
        self.title_text = title
        self.targets = targets
        self.total = total
        self.detail = detail
        self.verb = verb
        self.fields = fields
        self.validate = validate
        self.hint = hint

    def compose(self):
        with Vertical():
            yield Static(Text(clean(self.title_text, 200)), id="confirm-title")
            if self.targets:
                with VerticalScroll(id="confirm-targets"):
                    yield Static(target_lines(self.targets, self.total))
            if self.detail:
                yield Static(Text(clean(self.detail, 300), style="italic"), id="confirm-detail")
            for f in self.fields:
                yield PasteInput(value=f.value, placeholder=f.placeholder, id=f.id)
            if self.hint is not None:
                yield Static("", id="preview")
            yield PasteInput(placeholder="reason (recorded in the audit log)", id="reason")
            yield Static("", id="confirm-error")
            yield self.held_note()
            with Horizontal(id="confirm-buttons"):
                yield Button("Cancel", id="cancel", variant="primary")
                yield Button(self.verb, id="confirm", variant="error")

    def on_mount(self) -> None:
        self.query(Input).first().focus()
        self._update_hint()
        self._fit_targets()

    def on_resize(self) -> None:
        self._fit_targets()

    def _fit_targets(self) -> None:
        """On a short terminal (80x24) the list of targets gives way (it scrolls), so the
        fields, the reason and the buttons stay on screen; 14 lines at most."""
        box = self.query("#confirm-targets")
        if not box:
            return
        fixed = 5 + (2 if self.detail else 0) + 4 * len(self.fields) + (1 if self.hint else 0)
        fixed += 4 + 1 + 4 + (1 if self.held else 0)  # reason, error, buttons, held toasts
        room = int(self.app.size.height * 0.9) - fixed
        box.first().styles.max_height = max(2, min(14, room))

    def values(self) -> dict[str, str]:
        return {f.id: self.query_one(f"#{f.id}", Input).value for f in self.fields}

    def _update_hint(self) -> None:
        if self.hint is not None:
            self.query_one("#preview", Static).update(Text(clean(self.hint(self.values()), 200)))

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id != "reason":
            self._update_hint()

    def show_held(self, count: int) -> None:
        super().show_held(count)
        self._fit_targets()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        # enter moves on; in the last field (the reason) it confirms
        event.stop()
        if not self.submitted_here(event):
            return
        if event.input.id == "reason":
            self.action_confirm()
        else:
            self.focus_next()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "confirm":
            self.action_confirm()
        else:
            self.action_cancel()

    def action_cancel(self) -> None:
        self.close(None)

    def action_confirm(self) -> None:
        if self.closed:
            return
        values = self.values()
        problem = self.validate(values) if self.validate is not None else None
        if problem:
            self.query_one("#confirm-error", Static).update(Text(clean(problem, 200)))
            return
        reason = clean(self.query_one("#reason", Input).value, REASON_MAX).strip()
        self.close(Decision(reason, values))


MAX_CHOICES = 9  # one digit each


class ChoiceScreen(Dialog[int | None]):
    """Pick one of at most nine labelled choices: a digit picks at once, arrows and enter
    work too, escape cancels. Dismisses with the index picked."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="choice.cancel"),
        *(Binding(str(n), f"pick({n})", show=False) for n in range(1, MAX_CHOICES + 1)),
    ]
    DEFAULT_CSS = """
    ChoiceScreen { align: center middle; }
    ChoiceScreen > Vertical { width: 72; height: auto; border: thick $warning;
        background: $surface; padding: 1 2; }
    ChoiceScreen #choice-title { text-style: bold; }
    ChoiceScreen OptionList { height: auto; max-height: 12; margin-top: 1; }
    """

    def __init__(self, title: str, labels: list[str]) -> None:
        super().__init__()
        self.title_text = title
        self.labels = labels[:MAX_CHOICES]

    def compose(self):
        with Vertical():
            yield Static(Text(clean(self.title_text, 70)), id="choice-title")
            yield OptionList(
                *(
                    Option(Text(f"{i}  {clean(label, 60)}"), id=str(i))
                    for i, label in enumerate(self.labels, 1)
                ),
                id="choices",
            )
            yield self.held_note()

    def on_mount(self) -> None:
        self.query_one(OptionList).focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.action_pick(int(event.option.id or 0))

    def action_pick(self, n: int) -> None:
        if 1 <= n <= len(self.labels):
            self.close(n - 1)

    def action_cancel(self) -> None:
        self.close(None)
