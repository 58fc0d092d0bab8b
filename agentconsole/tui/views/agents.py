"""Agents: the live fleet, with runaway agents highlighted, and the kill actions."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from textual.binding import Binding
from textual.widgets import Static

from agentconsole.control.runaway import runaway_reasons
from agentconsole.tui import fmt
from agentconsole.tui.safe import cell
from agentconsole.tui.table import Column, LiveTable, Plan, Row, make_plan
from agentconsole.tui.views.base import Loader, View

if TYPE_CHECKING:
    from agentconsole.control.budgets import Limits
    from agentconsole.control.registry import AgentRecord
    from agentconsole.tui.backend import Backend

COLUMNS = [
    Column("id", "ID", 16),
    Column("status", "STATUS", 22),
    Column("user", "USER", 10),
    Column("tenant", "TENANT", 10),
    Column("model", "MODEL", 12),
    Column("age", "AGE", 6, numeric=True),
    Column("steps", "STEPS", 5, numeric=True),
    Column("tokens", "TOKENS", 6, numeric=True),
    Column("cost", "COST", 8, numeric=True),
    Column("heartbeat", "HEARTBEAT", 9, numeric=True),
    Column("task", "TASK", 30),
]

STATUS_STYLE = {
    "running": "green",
    "killing": "bold yellow",
    "killed": "red",
    "finished": "dim",
    "failed": "red",
    "dead": "dim red",
}


@dataclass
class AgentBrief:
    """What the kill actions need about a row, without reaching into the table."""

    id: str
    tenant: str
    status: str


@dataclass
class AgentsData:
    plan: Plan  # the diff against the screen, computed on the I/O thread
    briefs: dict[str, AgentBrief]
    total: int  # agents in the registry (its indexes' sizes), not the rows loaded
    loaded: int = 0
    order: str = "heartbeat"
    kills: set[str] = field(default_factory=set)  # kill targets in force (one HGETALL)


# The table's sort columns that a registry index orders: the loaded window is the top of
# that index, so sorting by cost shows the fleet's most expensive agents, not the most
# expensive of the freshest ones. Other columns sort the window of freshest agents.
INDEXED_ORDER = {"cost": "cost", "tokens": "tokens", "heartbeat": "heartbeat"}
WINDOW_TEXT = {"cost": "with the most cost", "tokens": "with the most tokens"}


def agent_row(rec: AgentRecord, limits: Limits, now: float, dead_after: float) -> Row:
    reasons = runaway_reasons(rec, limits, now, dead_after)
    hot = "bold red" if reasons else ""
    age = now - rec.started_at if rec.started_at else None
    beat = now - rec.heartbeat_at if rec.heartbeat_at else None
    status = rec.status + (" ⚠" + ",".join(reasons) if reasons else "")
    cells = (
        cell(rec.id, 16, hot),
        cell(status, 22, hot or STATUS_STYLE.get(rec.status, ""), sort_key=status),
        cell(rec.user, 10),
        cell(rec.tenant, 10),
        cell(rec.model, 12),
        cell(fmt.ago(age), 6, sort_key=age or 0.0),
        cell(rec.steps, 5, "bold red" if "steps" in reasons else "", sort_key=rec.steps),
        cell(fmt.count(rec.tokens), 6, sort_key=rec.tokens),
        cell(fmt.money(rec.cost), 8, "bold red" if "budget" in reasons else "", sort_key=rec.cost),
        cell(fmt.ago(beat), 9, "red" if "stale" in reasons else "", sort_key=beat or 0.0),
        cell(rec.task, 30),
    )
    search = " ".join((rec.id, rec.task, rec.user, rec.tenant, rec.model, status, *reasons)).lower()
    return Row(rec.id, cells, search)


class AgentsView(View):
    view_id = "agents"
    title = "Agents"
    aliases: ClassVar[tuple[str, ...]] = ("agents", "agent", "ag", "a", "po")
    ACTION_OPERATIONS: ClassVar[dict[str, tuple[str, ...]]] = {"lift": ("kill.lift",)}
    BINDINGS: ClassVar[list[Binding]] = [
        Binding("space", "mark", "Mark", id="agents.mark"),
        Binding("k", "op('kill.agent')", "Kill", id="agents.kill"),
        Binding("t", "op('kill.tenant')", "Kill tenant", id="agents.kill_tenant"),
        Binding("S", "op('kill.all')", "Global stop", id="agents.global_stop"),
        Binding("l", "lift", "Lift kill", id="agents.lift"),
        Binding(
            "v", "op('tenant.move')", "Move tenant to variant", id="agents.move_tenant", show=False
        ),
        Binding("s", "sort", "Sort", id="agents.sort"),
        Binding("c", "copy", "Copy id", id="agents.copy", show=False),
    ]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.briefs: dict[str, AgentBrief] = {}
        self.total = 0
        self.kills: set[str] = set()
        self.loaded = 0
        self.order = "heartbeat"

    def compose(self):
        yield Static("", id="agents-summary", markup=False)
        yield LiveTable(COLUMNS, markable=True, id="agents-table")

    def on_mount(self) -> None:
        self.table.sort_column = "cost"  # most expensive first: where incidents show
        self.table.sort_reverse = True

    def loader(self) -> Loader:
        clock = self.console.options.clock
        limit = self.console.options.agent_limit
        dead_after = self.console.settings.registry.dead_after_seconds
        base = self.table.plan_base()
        order = INDEXED_ORDER.get(self.table.sort_column or "", "heartbeat")

        async def load(backend: Backend) -> AgentsData:
            # A window of at most ``limit`` agents, the top of the index the table is
            # sorted by: a fleet of 100,000 is never read, diffed or laid out whole.
            plane = backend.plane()
            records = await plane.agents.list(order=order, limit=limit)
            total = await plane.agents.count() if len(records) >= limit else len(records)
            limits = await plane.budgets.get()
            now = clock()
            rows = [agent_row(r, limits, now, dead_after) for r in records]
            briefs = {r.id: AgentBrief(r.id, r.tenant, r.status) for r in records}
            plan = make_plan(rows, base)
            kills, _ = await plane.kills.list()
            total = max(total, len(records))
            return AgentsData(plan, briefs, total, len(records), order, set(kills))

        return load

    def paint(self, data: AgentsData) -> None:
        table = self.table
        if table is None:  # a refresh landing while the console closes
            return
        table.retire(self.briefs)  # 10,000 objects: freed by the next loader
        self.briefs = data.briefs
        self.total, self.loaded, self.order = data.total, data.loaded, data.order
        self.kills = data.kills
        table.apply(data.plan)
        self.update_summary()

    def update_summary(self) -> None:
        table = self.table
        shown = len(table.painted)
        parts = [f"{self.total} agents"]
        if self.kills:
            parts.append(f"{len(self.kills)} kill{'s' * (len(self.kills) != 1)} in force")
        if self.loaded < self.total:
            window = WINDOW_TEXT.get(self.order, "freshest")
            parts.append(f"showing the {self.loaded:,} {window}")
        if table.filter_text:
            parts.append(f"{shown} match /{table.filter_text}")
        if table.marked:
            parts.append(f"{len(table.marked)} marked")
        if table.sort_column:
            parts.append(f"sorted by {table.sort_column} {'↓' if table.sort_reverse else '↑'}")
        self.query_one("#agents-summary", Static).update(" · ".join(parts))

    # --- actions --------------------------------------------------------------------

    def action_mark(self) -> None:
        self.table.toggle_mark()
        self.update_summary()

    def action_sort(self) -> None:
        self.table.sort_by()
        self.update_summary()

    def action_copy(self) -> None:
        key = self.table.cursor_key
        if key:
            self.app.copy_to_clipboard(key)
            self.tell(f"copied {key}", "information")

    def selection(self) -> dict[str, str]:
        key = self.table.cursor_key
        brief = self.briefs.get(key or "")
        if brief is None:
            return {}
        return {"agent": brief.id, "tenant": brief.tenant} if brief.tenant else {"agent": brief.id}

    def action_op(self, name: str) -> None:
        """Kill acts on the marked rows when there are any (then clears the marks)."""
        from agentconsole.tui.operations import OperationRequested

        table = self.table
        if name == "kill.agent" and table.marked:
            args = {"agent": sorted(table.marked)}
            self.post_message(OperationRequested(name, args, after=table.clear_marks))
            return
        tenant_op = name in ("kill.tenant", "tenant.move")
        if tenant_op and self.selection().get("agent") and not self.selection().get("tenant"):
            self.tell("the selected agent has no tenant")
            return
        super().action_op(name)

    def action_lift(self) -> None:
        """Lift the kill that stops the selected agent: its own, its tenant's, or the fleet's."""
        from agentconsole.tui.operations import OperationRequested

        chosen = self.selection()
        if not chosen:
            self.tell("no agent selected")
            return
        scopes = [("agent", chosen["agent"]), ("tenant", chosen.get("tenant")), ("all", None)]
        for scope, name in scopes:
            target = "all" if scope == "all" else f"{scope}:{name}"
            if (name or scope == "all") and target in self.kills:
                self.post_message(OperationRequested("kill.lift", {"scope": scope, "name": name}))
                return
        self.tell(f"no kill in force for agent {chosen['agent']}, its tenant or the fleet")
