"""`?`: this app's keys, grouped by where they work, and the `:` commands.

Derived, never listed by hand: the keys come from the ``BINDINGS`` of the app, of each view
(and of a screen pushed over them, such as a runbook) with the user's keymap applied; the
commands from the app's own verbs and the operations table. Textual's built-in keys (quit
with ctrl+q, copy with super+c, ...) are not this app's and stay out. A key whose action is
not available (read-only mode, the role, a permission Redis refused) is left out too, as it
is from the footer.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, ClassVar

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

if TYPE_CHECKING:
    from agentconsole.tui.app import ConsoleApp

PALETTE = "palette: views, keys and every operation for the selection"
TABLES = "Tables (every view)"


@dataclass
class Section:
    title: str
    rows: list[tuple[str, str]]  # (key as shown, what it does)


def _keys(
    app: ConsoleApp,
    bindings: Iterable[Binding | tuple[str, ...]],
    keymap: Mapping[str, str],
    allowed: Any = None,
) -> list[tuple[str, str]]:
    rows = []
    for binding in bindings:
        if not isinstance(binding, Binding) or not binding.description:
            continue
        if binding.id and binding.id in keymap:
            binding = replace(binding, key=keymap[binding.id])
        if allowed is not None and not _allowed(allowed, binding.action):
            continue
        shown = ", ".join(
            app.get_key_display(replace(binding, key=key.strip(), key_display=None))
            for key in binding.key.split(",")
        )
        rows.append((binding.key_display or shown, _described(binding)))
    return rows


def _described(binding: Binding) -> str:
    """A key bound to an operation says what the operations table says it does."""
    from textual.actions import parse

    from agentconsole.control import operations as ops

    _, name, params = parse(binding.action)
    if name != "op" or not params:
        return binding.description
    op = ops.get(str(params[0]))
    said = op.summary
    if not said.lower().startswith(binding.description.lower()):  # never "Global stop: global stop"
        said = f"{binding.description}: {said}"
    return said[:1].upper() + said[1:] + (" (asks first)" if op.destructive else "")


def _allowed(node: Any, action: str) -> bool:
    """What ``check_action`` says about ``op('kill.agent')`` and the like."""
    from textual.actions import parse

    _, name, params = parse(action)
    return node.check_action(name, params) is not False


ENTER = Binding("enter", "select", "open the row: an alert's runbook, an agent, a change's diff")


def sections(app: ConsoleApp) -> list[Section]:
    """Where the operator is first (a pushed screen such as a runbook, or the current
    view), then the keys that work everywhere and in every table, then the other views."""
    from agentconsole.tui.app import VIEW_CLASSES
    from agentconsole.tui.table import LiveTable

    keymap = dict(app.settings.ui.keymap)
    screen, base = app.screen, app.screen_stack[0]
    out: list[Section] = []
    if screen is not base:
        title = str(getattr(screen, "header_title", "") or type(screen).__name__)
        out.append(Section(f"{title} (here)", _keys(app, type(screen).BINDINGS, keymap, screen)))

    def view_section(cls: Any, here: str = "") -> Section:
        rows = _keys(app, cls.BINDINGS, keymap, app.view(cls.view_id))
        return Section(cls.title + here, rows or [("", "no keys of its own")])

    current = next(cls for cls in VIEW_CLASSES if cls.view_id == app.current)
    out.append(view_section(current, " (here)" if screen is base else ""))
    palette = Binding(app.COMMAND_PALETTE_BINDING, "command_palette", PALETTE)
    out.append(Section("Everywhere", _keys(app, [*app.BINDINGS, palette], keymap, app)))
    out.append(Section(TABLES, _keys(app, [*LiveTable.BINDINGS, ENTER], keymap)))
    out += [view_section(cls) for cls in VIEW_CLASSES if cls is not current]
    return out


def commands(app: ConsoleApp) -> list[tuple[str, str]]:
    from agentconsole.control import operations as ops

    available = [(op.usage, op.summary) for op in ops.OPERATIONS if app.operations.available(op)]
    return [*app.COMMAND_HELP, *available]


class HelpScreen(ModalScreen[None]):
    """`?`: this app's keys by where they work, and the `:` commands."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark", "close", "Close", id="help.close")
    ]
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll { width: 90; max-width: 100%; height: 80%;
        border: thick $accent; background: $surface; padding: 1 2; }
    """

    def __init__(self, groups: list[Section], commands: list[tuple[str, str]]) -> None:
        super().__init__()
        self.groups = groups
        self.commands = commands

    def text(self) -> Text:
        out = Text()
        for group in self.groups:
            out.append(f"{group.title}\n", "bold")
            for key, description in group.rows:
                out.append(f"  {key:<14}", "bold cyan")
                out.append(f"{description}\n")
            out.append("\n")
        out.append("Commands (type : then a command, enter)\n", "bold")
        for names, description in self.commands:
            out.append(f"  {names:<34}", "bold cyan")
            if len(names) >= 34:  # a long usage: what it does on a line of its own
                out.append("\n" + " " * 36)
            out.append(f"{description}\n")
        out.append("\nFilter: / then a regex; !regex inverts; esc clears.\n", "dim")
        return out

    def renderable(self) -> Group:
        """The same as :meth:`text`, laid out in columns: a description that wraps at 80
        columns stays under itself instead of starting again under the keys."""

        def grid(width: int) -> Table:
            table = Table.grid(padding=(0, 1))
            table.add_column(width=width, style="bold cyan", no_wrap=True)
            table.add_column(ratio=1)
            return table

        parts: list[Text | Table] = []
        for group in self.groups:
            parts.append(Text(group.title, "bold"))
            keys = grid(14)
            for key, description in group.rows:
                keys.add_row(f" {key}", description)
            parts += [keys, Text("")]
        parts.append(Text("Commands (type : then a command, enter)", "bold"))
        commands = grid(34)
        for names, description in self.commands:
            if len(names) >= 33:  # a long usage: what it does on a line of its own
                commands.add_row(f" {names}", "")
                commands.add_row("", description)
            else:
                commands.add_row(f" {names}", description)
        parts += [commands, Text("\nFilter: / then a regex; !regex inverts; esc clears.", "dim")]
        return Group(*parts)

    def compose(self):
        with VerticalScroll():
            yield Static(self.renderable())

    def action_close(self) -> None:
        self.dismiss(None)
