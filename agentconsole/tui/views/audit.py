"""Audit: the audit stream as a live timeline, newest first, filterable with `/`."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from textual.binding import Binding
from textual.widgets import Static

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

# fields that change on every write and say nothing to a reader of the timeline
_NOISE = {"version", "changed_at", "changed_by", "reason", "at", "id", "role"}


def describe_change(before: dict[str, Any] | None, after: dict[str, Any] | None) -> str:
    """What changed, in one line: ``enabled: true→false, rollout_bp: 500→2500``."""
    if before is None and after is None:
        return ""
    if before is None:
        return "created " + json.dumps({k: v for k, v in (after or {}).items() if k not in _NOISE})
    if after is None:
        return "removed"
    return ", ".join(change_parts(before, after)) or "no change"


def change_parts(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """One ``key: old→new`` per changed field (a column shows whole ones, never a cut one)."""
    parts = []
    for key in sorted(set(before) | set(after)):
        if key in _NOISE:
            continue
        if before.get(key) != after.get(key):
            parts.append(f"{key}: {json.dumps(before.get(key))}→{json.dumps(after.get(key))}")
    return parts


def audit_row(entry: AuditEntry) -> Row:
    ms, _, seq = entry.id.partition("-")
    try:
        order: Any = (int(ms), int(seq or 0))
    except ValueError:
        order = (0, 0)
    change = describe_change(entry.before, entry.after)
    if entry.before is not None and entry.after is not None:
        shown = fmt.fit_parts(change_parts(entry.before, entry.after), 40) or change
    else:
        shown = fmt.fit(change, 40)
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


class AuditView(View):
    view_id = "audit"
    title = "Audit"
    aliases: ClassVar[tuple[str, ...]] = ("audit", "au", "log", "history")
    BINDINGS: ClassVar[list[Binding]] = [Binding("s", "sort", "Sort", id="audit.sort")]
    LIMIT = 500

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
            return AuditData([audit_row(e) for e in entries])

        return load

    def paint(self, data: AuditData) -> None:
        self.table.set_rows(data.rows)
        text = f"last {len(data.rows)} audit entries, newest first"
        if self.table.filter_text:
            text += f" · {len(self.table.painted)} match /{self.table.filter_text}"
        self.query_one("#audit-summary", Static).update(text)

    def action_sort(self) -> None:
        self.table.sort_by()
