"""Audit: the audit stream as a live timeline, newest first, filterable with `/`; Enter on
a row shows that change's before and after in words (``tui/audit_diff.py``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from textual.binding import Binding, BindingType
from textual.widgets import Static

from agentconsole.control import audit_diff
from agentconsole.tui import fmt
from agentconsole.tui.safe import cell
from agentconsole.tui.table import Column, LiveTable, Row
from agentconsole.tui.views.base import Loader, View

if TYPE_CHECKING:
    from agentconsole.control.audit import AuditEntry
    from agentconsole.tui.backend import Backend

COLUMNS = [
    Column("time", "TIME", 8, numeric=True),
    Column("actor", "WHO", 12),
    Column("role", "ROLE", 9),
    Column("action", "ACTION", 19),
    Column("target", "TARGET", 22),
    Column("change", "CHANGE", 40),
    Column("reason", "REASON", 28),
    Column("version", "CP V", 5, numeric=True),
]


def audit_row(entry: AuditEntry) -> Row:
    ms, _, seq = entry.id.partition("-")
    try:
        order: Any = (int(ms), int(seq or 0))
    except ValueError:
        order = (0, 0)
    parts = audit_diff.lines(entry.entity, entry.before, entry.after)
    if parts[:1] == ["created"]:  # the action says so; the fields that matter, not the target
        parts = [p for p in parts[1:] if p.partition(": ")[2] != entry.target] or ["created"]
    change = ", ".join(parts)
    shown = fmt.fit_parts(parts, 40) or fmt.fit(change, 40)  # whole fields; Enter shows all
    cells = (
        cell(fmt.hms(entry.ts), 8, sort_key=order),
        cell(entry.actor, 12),
        cell(entry.role, 9),
        cell(entry.action, 19, "bold" if entry.action.startswith("kill") else ""),
        cell(entry.target, 22),
        cell(shown, 40),
        cell(fmt.fit(entry.reason, 28), 28),
        cell(entry.cp_version, 5, sort_key=entry.cp_version),
    )
    search = " ".join((entry.actor, entry.action, entry.target, change, entry.reason)).lower()
    return Row(entry.id, cells, search)


@dataclass
class AuditData:
    rows: list[Row]
    entries: dict[str, AuditEntry]  # row key (the stream id) -> its entry, for Enter


class AuditView(View):
    view_id = "audit"
    title = "Audit"
    aliases: ClassVar[tuple[str, ...]] = ("audit", "au", "log", "history")
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("s", "sort", "Sort", id="audit.sort"),
        Binding("d", "diff", "Before/after (enter)", id="audit.diff", show=False),
    ]
    LIMIT = 500

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.entries: dict[str, AuditEntry] = {}

    def compose(self):
        yield Static("", id="audit-summary", markup=False)
        yield LiveTable(COLUMNS, id="audit-table")

    def on_mount(self) -> None:
        self.table.sort_column = "time"
        self.table.sort_reverse = True

    def loader(self) -> Loader:
        limit = self.LIMIT

        async def load(backend: Backend) -> AuditData:
            entries = await backend.plane().audit.tail(limit)
            return AuditData([audit_row(e) for e in entries], {e.id: e for e in entries})

        return load

    def paint(self, data: AuditData) -> None:
        self.entries = data.entries
        self.table.set_rows(data.rows)
        text = f"last {len(data.rows)} audit entries, newest first"
        if self.table.filter_text:
            text += f" · {len(self.table.painted)} match /{self.table.filter_text}"
        self.query_one("#audit-summary", Static).update(text)

    def action_sort(self) -> None:
        self.table.sort_by()

    def on_data_table_row_selected(self, event: LiveTable.RowSelected) -> None:
        event.stop()
        self.action_diff()

    def action_diff(self) -> None:
        """Before and after of the change under the cursor; refresh waits while it is up."""
        from agentconsole.tui.audit_diff import AuditDiffScreen

        entry = self.entries.get(self.table.cursor_key or "")
        if entry is None:
            self.tell("no audit entry selected")
            return
        self.app.push_screen(AuditDiffScreen(entry), lambda _=None: self.console.resume_refresh())
