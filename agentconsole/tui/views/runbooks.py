"""Runbooks: the runbooks in ``settings.runbooks_dir``; enter opens one."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from textual.binding import Binding, BindingType
from textual.widgets import Static

from agentconsole.tui.safe import cell
from agentconsole.tui.table import Column, LiveTable, Row
from agentconsole.tui.views.base import Loader, View

if TYPE_CHECKING:
    from agentconsole.tui.backend import Backend

COLUMNS = [
    Column("id", "ID", 22),
    Column("title", "TITLE", 40),
    Column("severity", "SEVERITY", 9),
    Column("alerts", "ALERTS", 44),
]


@dataclass
class RunbooksData:
    rows: list[Row]
    problems: list[str]


def load_runbooks(directory: str) -> RunbooksData:
    """Every runbook of the library in ``directory``, with what lint found wrong."""
    from agentconsole.runbook.library import Library

    rows: list[Row] = []
    library = Library.load([directory])
    for rb in library.all():
        alerts = ", ".join(rb.alerts)
        rows.append(
            Row(
                rb.id,
                (
                    cell(rb.id, 22, "bold"),
                    cell(rb.title, 40),
                    cell(rb.severity, 9),
                    cell(alerts, 44),
                ),
                f"{rb.id} {rb.title} {alerts}".lower(),
            )
        )
    return RunbooksData(rows, [str(p) for p in library.problems])


class RunbooksView(View):
    view_id = "runbooks"
    title = "Runbooks"
    aliases: ClassVar[tuple[str, ...]] = ("runbooks", "runbook", "rb", "r")
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "open", "Open", id="runbooks.open"),
    ]

    def compose(self):
        yield Static("", id="runbooks-summary", markup=False)
        yield LiveTable(COLUMNS, id="runbooks-table")

    def on_mount(self) -> None:
        self.table.sort_column = "id"

    def loader(self) -> Loader:
        directory = self.console.settings.runbooks_dir

        async def load(backend: Backend) -> RunbooksData:
            return load_runbooks(directory)

        return load

    def paint(self, data: RunbooksData) -> None:
        self.table.set_rows(data.rows)
        text = f"{len(data.rows)} runbooks in {self.console.settings.runbooks_dir}"
        if data.problems:
            text += f" · {len(data.problems)} problems: {data.problems[0]}"
        self.query_one("#runbooks-summary", Static).update(text)

    def action_open(self) -> None:
        key = self.table.cursor_key
        if key:
            self.console.open_runbook(key)

    def on_data_table_row_selected(self, event: LiveTable.RowSelected) -> None:
        event.stop()
        if event.row_key.value is not None:
            self.console.open_runbook(event.row_key.value)
