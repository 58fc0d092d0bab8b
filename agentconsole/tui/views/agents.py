"""Agents: the live fleet, with runaway agents highlighted, and the kill actions."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, ClassVar

from textual.binding import Binding, BindingType
from textual.widgets import Static

from agentconsole.control.pages import Page, Where
from agentconsole.control.runaway import runaway_reasons
from agentconsole.tui import fmt
from agentconsole.tui.safe import cell
from agentconsole.tui.table import Column, LiveTable, Match, Plan, Row, build_filter, make_plan
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
    "paused": "bold cyan",
    "draining": "yellow",
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
    total: int  # agents in the order paged (the fleet, a tenant, a status); -1: not known
    loaded: int = 0
    order: str = "heartbeat"
    kills: set[str] = field(default_factory=set)  # kill targets in force (one HGETALL)
    page: Page | None = None
    request: PageRequest | None = None  # what this page answered
    holds: set[str] = field(default_factory=set)  # drains, pauses in force: drain:tenant:a


@dataclass(frozen=True)
class PageRequest:
    """Where the next refresh reads: a page relative to a cut of one order and filter."""

    order: str
    descending: bool
    tenant: str | None
    status: str | None
    where: Where = "first"
    cut: tuple[int, ...] = ()
    moved: bool = False  # the operator asked for it: the cursor goes to the new page's edge
    seq: int = 0

    def same_order(self, other: PageRequest) -> bool:
        return (self.order, self.descending, self.tenant, self.status) == (
            other.order,
            other.descending,
            other.tenant,
            other.status,
        )


# The table's sort columns that a registry index orders: the page is a page of that index,
# so sorting by cost pages through the fleet's agents by cost. The other columns (id,
# status, user, tenant, model, task) sort the page on screen only (a page of the freshest
# agents), and the summary says so. HEARTBEAT and AGE show "seconds ago": their descending
# sort (stalest, oldest first) is the index ascending.
INDEXED_ORDER = {
    "cost": "cost",
    "tokens": "tokens",
    "heartbeat": "heartbeat",
    "steps": "steps",
    "age": "started",
}
AGO_COLUMNS = ("heartbeat", "age")
ORDER_TEXT = {
    ("cost", True): "by most cost",
    ("cost", False): "by least cost",
    ("tokens", True): "by most tokens",
    ("tokens", False): "by fewest tokens",
    ("steps", True): "by most steps",
    ("steps", False): "by fewest steps",
    ("started", True): "newest first",
    ("started", False): "oldest first",
    ("heartbeat", True): "freshest first",
    ("heartbeat", False): "stalest first",
}
FILTER_TERMS = ("tenant", "status")


def index_terms(pattern: str) -> tuple[dict[str, str], str]:
    """``tenant:acme status:running rest`` -> ({tenant: acme, status: running}, "rest")."""
    terms: dict[str, str] = {}
    rest = []
    for word in pattern.split():
        name, sep, value = word.partition(":")
        if sep and value and name.lower() in FILTER_TERMS:
            terms[name.lower()] = value
        else:
            rest.append(word)
    return terms, " ".join(rest)


def agents_filter(pattern: str) -> Match | None:
    """The `/` filter of the Agents view: ``tenant:X`` and ``status:Y`` match exactly (and
    the loader reads that index), the rest is the table's regex filter."""
    terms, rest = index_terms(pattern)
    regex = build_filter(rest)
    if not terms:
        return regex
    needles = [f" {name}:{value.lower()} " for name, value in terms.items()]

    def match(search: str) -> bool:
        padded = f" {search} "
        return all(n in padded for n in needles) and (regex is None or regex(search))

    return match


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
    words = (rec.id, rec.task, rec.user, rec.tenant, rec.model, status, *reasons)
    index = f"tenant:{rec.tenant} status:{rec.status}"  # what agents_filter's terms match
    search = " ".join((*words, index)).lower()
    return Row(rec.id, cells, search)


class AgentsView(View):
    view_id = "agents"
    title = "Agents"
    aliases: ClassVar[tuple[str, ...]] = ("agents", "agent", "ag", "a", "po")
    ACTION_OPERATIONS: ClassVar[dict[str, tuple[str, ...]]] = {
        "lift": ("kill.lift",),
        "undrain": ("drain.lift",),
        "resume": ("pause.lift",),
    }
    # The intervention ladder, least disruptive first: drain (no new runs), pause (runs hold
    # at their next step), kill; then the lifts in the same order. The footer shows each
    # key where it fits and one label per verb where not ("d/D Drain ... u/r/l Lift").
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("space", "mark", "Mark", id="agents.mark"),
        Binding("d", "op('drain.tenant')", "Drain tenant", id="agents.drain_tenant"),
        Binding("D", "op('drain.agent')", "Drain agent", id="agents.drain"),
        Binding("z", "op('pause.agent')", "Pause", id="agents.pause"),
        Binding("Z", "op('pause.tenant')", "Pause tenant", id="agents.pause_tenant"),
        Binding("k", "op('kill.agent')", "Kill", id="agents.kill"),
        Binding("t", "op('kill.tenant')", "Kill tenant", id="agents.kill_tenant"),
        Binding("S", "op('kill.all')", "Global stop", id="agents.global_stop"),
        Binding("u", "undrain", "Undrain", id="agents.undrain"),
        Binding("r", "resume", "Resume", id="agents.resume"),
        Binding("l", "lift", "Lift kill", id="agents.lift"),
        Binding(
            "v", "op('tenant.move')", "Move tenant to variant", id="agents.move_tenant", show=False
        ),
        Binding("s", "sort", "Sort", id="agents.sort"),
        Binding("c", "copy", "Copy id", id="agents.copy", show=False),
        Binding("o", "trace", "Open trace", id="agents.trace", show=False),
    ]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.briefs: dict[str, AgentBrief] = {}
        self.total = 0
        self.bound = 0  # a filter whose count is not known (-1 total): at most this many
        self.kills: set[str] = set()
        self.holds: set[str] = set()
        self.loaded = 0
        self.order = "heartbeat"
        self.page: Page | None = None
        self.request: PageRequest | None = None  # the next refresh's page
        self._seq = 0

    def compose(self):
        yield Static("", id="agents-summary", markup=False)
        yield LiveTable(COLUMNS, markable=True, id="agents-table")

    def on_mount(self) -> None:
        table = self.table
        table.sort_column = "cost"  # most expensive first: where incidents show
        table.sort_reverse = True
        table.paged = True
        table.filter_builder = agents_filter

    def wanted(self) -> PageRequest:
        """The page the next refresh reads: the operator's last move, or the page on screen;
        from the top when the sort or the filter's index changed."""
        table = self.table
        column = table.sort_column or ""
        order = INDEXED_ORDER.get(column, "heartbeat")
        descending = column not in INDEXED_ORDER or table.sort_reverse != (column in AGO_COLUMNS)
        terms, _ = index_terms(table.filter_text)
        fresh = PageRequest(order, descending, terms.get("tenant"), terms.get("status"))
        current = self.request
        if current is None or not current.same_order(fresh):
            return fresh
        return current

    def loader(self) -> Loader:
        clock = self.console.options.clock
        size = max(1, self.console.options.agent_limit)
        dead_after = self.console.settings.registry.dead_after_seconds
        base = self.table.plan_base()
        request = self.request = self.wanted()

        async def load(backend: Backend) -> AgentsData:
            # One page of the order the table is sorted by: a fleet of 100,000 is never
            # read, diffed or laid out whole; any page costs the same.
            plane = backend.plane()
            page = await plane.agents.page(
                request.order,
                size,
                where=request.where,
                cut=request.cut,
                descending=request.descending,
                tenant=request.tenant,
                status=request.status,
            )
            records = await plane.agents.get_many(page.ids)
            if request.status is not None:  # derived statuses (killing, dead) are read here
                records = [r for r in records if r.status == request.status]
            limits = await plane.budgets.get()
            now = clock()
            rows = [agent_row(r, limits, now, dead_after) for r in records]
            briefs = {r.id: AgentBrief(r.id, r.tenant, r.status) for r in records}
            plan = make_plan(rows, base)
            kills, _ = await plane.kills.list()
            holds, _ = await plane.holds.list()
            return AgentsData(
                plan,
                briefs,
                page.total,
                len(records),
                request.order,
                set(kills),
                page,
                request,
                set(holds),
            )

        return load

    def paint(self, data: AgentsData) -> None:
        table = self.found_table
        if table is None:  # a refresh landing while the console closes
            return
        table.retire(self.briefs)  # many objects: freed by the next loader
        self.briefs = data.briefs
        self.total, self.loaded, self.order = data.total, data.loaded, data.order
        self.bound = data.page.bound if data.page is not None else 0
        self.kills, self.holds = data.kills, data.holds
        table.apply(data.plan)
        request, page = data.request, data.page
        if request is not None and page is not None:
            self.page = page
            if self.request is None or self.request.seq == request.seq:
                # the next refresh reads this page again, wherever the move came from
                self.request = replace(request, where="at", cut=page.start, moved=False)
            if request.moved and table.row_count:
                edge = 0 if request.where in ("first", "at") else table.row_count - 1
                table.move_cursor(row=edge, animate=False)
        self.update_summary()

    def on_live_table_page_requested(self, message: LiveTable.PageRequested) -> None:
        message.stop()
        page, request = self.page, self.wanted()
        if page is None:
            return
        where: Where
        if message.where == "next":
            if not page.has_next:
                return
            where, cut = "at", page.next_start
        elif message.where == "previous":
            if not page.has_previous:
                return
            where, cut = "before", page.start
        elif message.where == "first":
            if not page.has_previous:
                return  # already on the first page: the cursor moved there
            where, cut = "first", ()
        else:
            if not page.has_next:
                return
            where, cut = "last", ()
        self._seq += 1
        self.request = replace(request, where=where, cut=cut, moved=True, seq=self._seq)
        self.console.poll_now()

    def on_live_table_filter_changed(self, message: LiveTable.FilterChanged) -> None:
        message.stop()
        if self.request is not None and not self.request.same_order(self.wanted()):
            self.console.poll_now()  # the filter names another index: read it now

    def update_summary(self) -> None:
        table = self.table
        shown = len(table.painted)
        # a status only the rows tell (running, dead...) is not counted: at most its index
        known = self.total >= 0
        parts = [f"{self.total:,} agents" if known else f"up to {self.bound:,} agents"]
        request = self.request
        if request is not None:
            named = [
                f"{n} {v}" for n, v in (("tenant", request.tenant), ("status", request.status)) if v
            ]
            if named:
                parts[0] += " with " + ", ".join(named)
        if self.kills:
            parts.append(f"{len(self.kills)} kill{'s' * (len(self.kills) != 1)} in force")
        for kind in ("drain", "pause"):
            n = sum(1 for h in self.holds if h.startswith(f"{kind}:"))
            if n:
                parts.append(f"{n} {kind}{'s' * (n != 1)} in force")
        page = self.page
        if page is not None and (page.has_next or page.has_previous):
            text = ORDER_TEXT.get((request.order, request.descending), "") if request else ""
            if page.position >= 0:
                first = page.position + 1
                last = page.position + len(page.ids)
                parts.append(f"rows {first:,}–{last:,} {text}".rstrip())
            else:  # the last pages of a status whose count is not known
                parts.append(f"{len(page.ids):,} rows near the end {text}".rstrip())
        if table.filter_text:
            parts.append(f"{shown} match /{table.filter_text}")
        if table.marked:
            parts.append(f"{len(table.marked)} marked")
        if table.sort_column:
            arrow = "↓" if table.sort_reverse else "↑"
            if table.sort_column in INDEXED_ORDER:
                parts.append(f"sorted by {table.sort_column} {arrow}")
            else:  # no index ranks it: the fleet's order is not known, only the page's
                parts.append(f"sorted by {table.sort_column} {arrow} within this page only")
        self.query_one("#agents-summary", Static).update(" · ".join(parts))

    # --- actions --------------------------------------------------------------------

    def action_mark(self) -> None:
        self.table.toggle_mark()
        self.update_summary()

    def action_sort(self) -> None:
        self.table.sort_by()
        self.update_summary()

    def on_data_table_row_selected(self, event: LiveTable.RowSelected) -> None:
        """Enter: the agent's detail, with its trace (``tui/agent_detail.py``)."""
        from agentconsole.tui.agent_detail import open_detail

        event.stop()
        key = self.table.cursor_key
        if key:
            open_detail(self.app, key)

    def action_trace(self) -> None:
        """The selected agent's trace (``traces.url_template``), from its detail."""
        from agentconsole.tui.agent_detail import open_detail

        key = self.table.cursor_key
        if key:
            open_detail(self.app, key, open_trace=True)

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
        if name in ("kill.agent", "drain.agent", "pause.agent") and table.marked:
            args = {"agent": sorted(table.marked)}
            self.post_message(OperationRequested(name, args, after=table.clear_marks))
            return
        tenant_op = name in ("kill.tenant", "tenant.move", "drain.tenant", "pause.tenant")
        if tenant_op and self.selection().get("agent") and not self.selection().get("tenant"):
            self.tell("the selected agent has no tenant")
            return
        super().action_op(name)

    def action_lift(self) -> None:
        """Lift the kill that stops the selected agent: its own, its tenant's, or the fleet's."""
        self._lift("kill.lift", "kill", self.kills, "")

    def action_undrain(self) -> None:
        """Lift the drain that refuses the selected agent's new runs."""
        self._lift("drain.lift", "drain", self.holds, "drain:")

    def action_resume(self) -> None:
        """Lift the pause that holds the selected agent's run."""
        self._lift("pause.lift", "pause", self.holds, "pause:")

    def _lift(self, op: str, what: str, in_force: set[str], prefix: str) -> None:
        """The narrowest ``what`` in force over the selection (agent, tenant, all) is lifted."""
        from agentconsole.tui.operations import OperationRequested

        chosen = self.selection()
        if chosen:
            scopes = [("agent", chosen["agent"]), ("tenant", chosen.get("tenant")), ("all", None)]
            for scope, name in scopes:
                target = prefix + ("all" if scope == "all" else f"{scope}:{name}")
                if (name or scope == "all") and target in in_force:
                    self.post_message(OperationRequested(op, {"scope": scope, "name": name}))
                    return
        held = sorted(h for h in in_force if h.startswith(prefix))
        # a drained tenant may have no row left, a kill may name an agent the registry no
        # longer (or never) had: the one in force is meant (the dialog names it)
        if len(held) == 1:
            scope, _, name = held[0][len(prefix) :].partition(":")
            self.post_message(OperationRequested(op, {"scope": scope, "name": name or None}))
            return
        if held:
            shown = ", ".join(h[len(prefix) :] for h in held[:4])
            self.tell(f"{len(held)} {what}s in force ({shown}): select an agent of one")
            return
        if not chosen:
            self.tell("no agent selected")
            return
        self.tell(f"no {what} in force for agent {chosen['agent']}, its tenant or the fleet")
