"""Spend: who is burning money, against which daily cap, when it crosses it; cap or stop it.

The report is :func:`agentconsole.metrics.forecast.spend_report` (the one `agentconsole
spend` prints); this view only paints its cells. On a tenant row `c` caps the tenant at
what it has spent today ("no more today": ``budget.tenant``, the dialog asks only why), `C`
caps it at a value you type, `d` drains it (no new runs, ``drain.tenant``), `t` stops it
(``kill.tenant``): all through the operations table and its one dialog.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.widgets import Static

from agentconsole.metrics import forecast as fc
from agentconsole.tui.safe import cell, clean
from agentconsole.tui.table import Column, LiveTable, Row
from agentconsole.tui.views.base import Loader, View

if TYPE_CHECKING:
    from agentconsole.tui.backend import Backend

TOP = 8
BURN_WINDOWS = (None, "15m", "1h")  # None: the panels' rate window (the preset's, 2m)
TENANT_COLUMNS = [  # 80 columns wide in all: the 80x24 layout shows every one
    Column("tenant", "TENANT", 12),
    Column("today", "TODAY", 9, numeric=True),
    Column("burn", "BURN", 9, numeric=True),
    Column("cap", "CAP", 9, numeric=True),
    Column("used", "USED", 5, numeric=True),
    Column("forecast", "FORECAST (UTC)", 22),
]
AGENT_COLUMNS = [
    Column("agent", "AGENT", 18),
    Column("tenant", "TENANT", 14),
    Column("cost", "COST", 9, numeric=True),
    Column("steps", "STEPS", 5, numeric=True),
    Column("status", "STATUS", 10),
]
STATE_STYLE = {"over": "bold red", "crossing": "yellow", "no_rate": "dim", "unknown": "dim"}


def tenant_row(t: fc.TenantSpend, place: int) -> Row:
    """``place``: the report's order (worst outlook first), the TENANT column's sort key."""
    cells = fc.tenant_cells(t)
    style = STATE_STYLE.get(t.forecast.state, "")
    keys = (place, t.today or 0.0, t.rate or 0.0, t.cap or 0.0, t.share or 0.0)
    specs = (
        cell(cells[0], 12, "bold" if t.forecast.state == "over" else "", sort_key=keys[0]),
        cell(cells[1], 9, sort_key=keys[1]),
        cell(cells[2], 9, sort_key=keys[2]),
        cell(cells[3], 9, sort_key=keys[3]),
        cell(cells[4], 5, style, sort_key=keys[4]),
        cell(cells[5], 22, style),
    )
    return Row(t.tenant, specs, t.tenant.lower())


def agent_row(a: fc.AgentSpend) -> Row:
    cells = fc.agent_cells(a)
    specs = (
        cell(cells[0], 18),
        cell(cells[1], 14),
        cell(cells[2], 9, sort_key=a.cost),
        cell(cells[3], 5, sort_key=a.steps),
        cell(cells[4], 10),
    )
    return Row(a.id, specs, f"{a.id} {a.tenant}".lower())


def proposed_cap(today: float | None) -> str:
    """The cap `c` sets: the spend so far today, rounded up to a whole dollar ("no more
    today"); `C` asks for another value."""
    if not today or today <= 0:
        return ""
    return f"{math.ceil(today):d}"


class SpendView(View):
    view_id = "spend"
    title = "Spend"
    aliases: ClassVar[tuple[str, ...]] = ("spend", "cost", "money", "$")
    ACTION_OPERATIONS: ClassVar[dict[str, tuple[str, ...]]] = {"cap": ("budget.tenant",)}
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("c", "cap", "Cap now", id="spend.cap", tooltip="cap at today's spend"),
        Binding("C", "op('budget.tenant')", "Cap at $", id="spend.cap_at"),
        Binding("d", "op('drain.tenant')", "Drain", id="spend.drain_tenant"),
        Binding("t", "op('kill.tenant')", "Stop tenant", id="spend.kill_tenant"),
        Binding("w", "window", "Burn window", id="spend.window", show=False),
        Binding("s", "sort", "Sort", id="spend.sort", show=False),
    ]
    DEFAULT_CSS = """
    SpendView #spend-headline { text-style: bold; }
    SpendView #spend-tenants { height: auto; max-height: 12; }
    SpendView #spend-agents { height: 1fr; }
    SpendView .section { color: $text-muted; text-style: bold; }
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.report: fc.SpendReport | None = None
        self.burn_window: str | None = None  # w: the rate the forecast burns at

    def compose(self):
        yield Static("", id="spend-headline", markup=False)
        yield Static("", id="spend-tenants-title", classes="section", markup=False)
        yield LiveTable(TENANT_COLUMNS, id="spend-tenants")
        yield Static("", id="spend-note", markup=False)
        yield Static("MOST EXPENSIVE AGENTS", id="spend-agents-title", classes="section")
        yield LiveTable(AGENT_COLUMNS, id="spend-agents")

    def on_mount(self) -> None:
        tenants = self.query_one("#spend-tenants", LiveTable)
        tenants.sort_column, tenants.sort_reverse = "tenant", False  # worst outlook first
        agents = self.query_one("#spend-agents", LiveTable)
        agents.sort_column, agents.sort_reverse = "cost", True

    @property
    def table(self) -> LiveTable:
        return self.query_one("#spend-tenants", LiveTable)

    @property
    def agents_table(self) -> LiveTable:
        return self.query_one("#spend-agents", LiveTable)

    def loader(self) -> Loader:
        tenant = self.table.cursor_key  # its agents: spend by agent of the tenant you look at
        window = self.burn_window

        async def load(backend: Backend) -> fc.SpendReport:
            metrics = backend.metrics()
            return await fc.spend_report(
                metrics,
                backend.plane(),
                top=TOP,
                metrics_problem=backend.metrics_problem,
                agents_of=tenant,
                window=window,
            )

        return load

    def paint(self, data: fc.SpendReport) -> None:
        self.report = data
        headline = self.query_one("#spend-headline", Static)
        top = data.tenants[0].forecast.state if data.tenants else ""
        style = "bold red" if data.metrics_error or top == "over" else ""
        style = style or ("bold yellow" if top == "crossing" else "")
        headline.update(Text(data.headline, style=style or "bold"))
        self.query_one("#spend-tenants-title", Static).update(
            f"SPEND BY TENANT (top {TOP}, worst outlook first) · c: cap at today's spend · "
            "C: cap at a value · d: drain · t: stop"
        )
        self.table.set_rows([tenant_row(t, i) for i, t in enumerate(data.tenants)])
        note = (
            f"today = since 00:00 UTC · burn over the last {data.window} (w) · "
            "cap* = the tenant's own (budget tenant)"
        )
        if data.default_cap:
            note += f", else {fc.money(data.default_cap)} for every tenant"
        if data.redis_error:
            note = f"Redis: {data.redis_error} · " + note
        self.query_one("#spend-note", Static).update(Text(note, style="dim"))
        self.agents_table.set_rows([agent_row(a) for a in data.agents])
        whose = f"OF {clean(data.agents_of, 40)}" if data.agents_of else "(the fleet)"
        self.query_one("#spend-agents-title", Static).update(
            Text(f"MOST EXPENSIVE AGENTS {whose}", no_wrap=True, overflow="ellipsis")
        )

    def selection(self) -> dict[str, str]:
        """The tenant under the SPEND BY TENANT cursor; on the agents table, that agent and
        its tenant."""
        report = self.report or fc.SpendReport()
        if self.agents_table.has_focus and self.agents_table.cursor_key:
            key = self.agents_table.cursor_key
            agent = next((a for a in report.agents if a.id == key), None)
            if agent is not None:
                return {"agent": agent.id, "tenant": agent.tenant}
        tenant = self.table.cursor_key
        return {"tenant": tenant} if tenant else {}

    def action_cap(self) -> None:
        """Cap the selected tenant at what it has spent today (rounded up to a dollar)."""
        from agentconsole.tui.operations import OperationRequested

        tenant = self.selection().get("tenant")
        if not tenant:
            self.tell("no tenant selected")
            return
        report = self.report or fc.SpendReport()
        row = next((t for t in report.tenants if t.tenant == tenant), None)
        proposal = proposed_cap(row.today if row else None)
        if not proposal:
            self.tell(f"no spend recorded for {tenant} today: C caps it at a value you type")
            return
        self.post_message(
            OperationRequested("budget.tenant", {"tenant": tenant, "value": proposal})
        )

    def action_window(self) -> None:
        """The burn rate over the panels' window, 15m or 1h: steadier, slower to follow."""
        at = BURN_WINDOWS.index(self.burn_window)
        self.burn_window = BURN_WINDOWS[(at + 1) % len(BURN_WINDOWS)]
        self.tell(f"burn rate over {self.burn_window or 'the panels’ window'}", "information")
        self.console.poll_now()

    def action_sort(self) -> None:
        self.table.sort_by()
