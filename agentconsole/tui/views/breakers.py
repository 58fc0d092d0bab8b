"""Breakers: operator mode and observed state per dependency; trip, force-close, auto."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from textual.binding import Binding, BindingType
from textual.widgets import Static

from agentconsole.tui import fmt
from agentconsole.tui.safe import cell
from agentconsole.tui.table import Column, LiveTable, Row
from agentconsole.tui.views.base import Loader, View

if TYPE_CHECKING:
    from agentconsole.control.breakers import BreakerView
    from agentconsole.tui.backend import Backend

COLUMNS = [
    Column("dependency", "DEPENDENCY", 20),
    Column("mode", "OPERATOR MODE", 22),
    Column("observed", "OBSERVED", 9),
    Column("effective", "EFFECTIVE", 9),
    Column("failure", "FAIL %", 7, numeric=True),
    Column("slow", "SLOW %", 7, numeric=True),
    Column("calls", "CALLS", 7, numeric=True),
    Column("rejected", "REJECTED", 8, numeric=True),
    Column("changed", "LAST CHANGE", 22, numeric=True),
    Column("reason", "REASON", 22),
]

STATE_STYLE = {"open": "bold red", "half_open": "yellow", "closed": "green"}


@dataclass
class BreakersData:
    rows: list[Row]
    views: dict[str, BreakerView]
    problems: list[str]


def breaker_row(view: BreakerView, now: float) -> Row:
    mode = view.mode
    effective_mode = mode.effective(now)
    mode_text = effective_mode
    if effective_mode != "auto" and mode.until:
        mode_text += f" for {fmt.ago(mode.until - now)}"
    obs = view.observed
    effective = view.state_at(now)  # against the console's clock (deterministic snapshots)
    changed = f"{fmt.hms(mode.changed_at)} by {mode.changed_by}" if mode.changed_at else "-"
    cells = (
        cell(view.dependency, 20),
        cell(mode_text, 22, "bold yellow" if effective_mode != "auto" else ""),
        cell(obs.state, 9, STATE_STYLE.get(obs.state, "")),
        cell(effective, 9, STATE_STYLE.get(effective, "")),
        cell(f"{obs.failure_rate * 100:.1f}", 7, sort_key=obs.failure_rate),
        cell(f"{obs.slow_rate * 100:.1f}", 7, sort_key=obs.slow_rate),
        cell(fmt.count(obs.calls), 7, sort_key=obs.calls),
        cell(fmt.count(obs.rejected), 8, "red" if obs.rejected else "", sort_key=obs.rejected),
        cell(changed, 22, sort_key=mode.changed_at),
        cell(mode.reason, 22),
    )
    return Row(view.dependency, cells, f"{view.dependency} {mode_text} {effective}".lower())


class BreakersView(View):
    view_id = "breakers"
    title = "Breakers"
    aliases: ClassVar[tuple[str, ...]] = ("breakers", "breaker", "br", "b", "cb")
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("t", "op('breaker.trip')", "Trip", id="breakers.trip"),
        Binding("f", "op('breaker.force_close')", "Force close", id="breakers.force_close"),
        Binding("r", "op('breaker.reset')", "Reset", id="breakers.reset"),
        Binding("s", "sort", "Sort", id="breakers.sort"),
    ]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.views: dict[str, BreakerView] = {}

    def compose(self):
        yield Static("", id="breakers-summary", markup=False)
        yield LiveTable(COLUMNS, id="breakers-table")

    def on_mount(self) -> None:
        self.table.sort_column = "dependency"

    def loader(self) -> Loader:
        clock = self.console.options.clock

        async def load(backend: Backend) -> BreakersData:
            views, problems = await backend.plane().breakers.list()
            now = clock()
            rows = [breaker_row(v, now) for v in views]
            return BreakersData(rows, {v.dependency: v for v in views}, problems)

        return load

    def paint(self, data: BreakersData) -> None:
        self.views = data.views
        self.table.set_rows(data.rows)
        now = self.console.options.clock()
        forced = sum(1 for v in data.views.values() if v.mode.effective(now) != "auto")
        text = f"{len(data.views)} dependencies · {forced} under operator control"
        if data.problems:
            text += f" · {len(data.problems)} unreadable: {data.problems[0]}"
        self.query_one("#breakers-summary", Static).update(text)

    def selection(self) -> dict[str, str]:
        key = self.table.cursor_key
        return {"dependency": key} if key else {}

    def action_sort(self) -> None:
        self.table.sort_by()
