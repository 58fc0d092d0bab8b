"""Overview: every metrics panel against its target, the alerts, the top runaway agents."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.containers import Grid, Horizontal, Vertical
from textual.widgets import Static

from agentconsole.control.runaway import runaway_reasons
from agentconsole.tui import fmt
from agentconsole.tui.safe import cell, clean
from agentconsole.tui.table import Column, LiveTable, Row
from agentconsole.tui.views.base import Loader, View

if TYPE_CHECKING:
    from agentconsole.tui.backend import Backend

WINDOWS = ("15m", "1h", "6h", "24h")
STATUS_STYLE = {"ok": "green", "warning": "yellow", "breach": "bold red", "unknown": "dim"}
SEVERITY_RANK = {"critical": 0, "page": 0, "warning": 1, "info": 2}
SEVERITY_STYLE = {"critical": "bold red", "page": "bold red", "warning": "yellow", "info": "cyan"}

ALERT_COLUMNS = [
    Column("severity", "SEVERITY", 8),
    Column("state", "STATE", 7),
    Column("alert", "ALERT", 26),
    Column("since", "SINCE", 8, numeric=True),
    Column("summary", "SUMMARY", 48),
    Column("runbook", "RUNBOOK", 18),
]
TOP_COLUMNS = [
    Column("id", "AGENT", 16),
    Column("tenant", "TENANT", 12),
    Column("steps", "STEPS", 5, numeric=True),
    Column("tokens", "TOKENS", 7, numeric=True),
    Column("cost", "COST", 9, numeric=True),
    Column("why", "WHY", 20),
]


@dataclass
class OverviewData:
    panels: list[Any] | None  # PanelResult
    alert_rows: list[Row]
    alerts: dict[str, Any]  # identity -> Alert
    alerts_error: str | None
    metrics_problem: str | None
    top_rows: list[Row]
    redis_error: str | None
    prometheus_ok: bool | None
    window: str
    now: float
    notes: list[str] = field(default_factory=list)
    changes: list[Row] = field(default_factory=list)  # the last audited changes, readable
    change_entries: dict[str, Any] = field(default_factory=dict)  # row key -> AuditEntry
    runaway_why: set[str] = field(default_factory=set)  # the listed agents' reasons


def panel_text(result: Any, now: float, width: int = 34) -> Text:
    """One panel card: title and status, value against target, sparkline, staleness/error."""
    panel = result.panel
    status = result.status if result.status in STATUS_STYLE else "unknown"
    style = STATUS_STYLE[status]
    greyed = bool(result.error_kind) or getattr(result, "last_good", False)
    out = Text(no_wrap=True, overflow="ellipsis")
    out.append(clean(panel.title, width - 10), "bold")
    out.append(f"  ● {status}\n", "dim" if greyed else style)
    out.append(fmt.value(result.value, panel.unit), "dim" if greyed else f"bold {style}")
    if panel.target is not None:
        arrow = "<" if panel.target.direction == "below" else ">"
        out.append(f"   target {arrow} {fmt.value(panel.target.threshold, panel.unit)}", "dim")
    out.append("\n")
    described = False
    line = fmt.sparkline([v for _, v in result.series], width - 2)
    if result.labels_series:
        top = sorted(result.labels_series.items(), key=lambda kv: -kv[1])[:3]
        out.append(
            clean(", ".join(f"{k}: {fmt.value(v, panel.unit)}" for k, v in top), width), "dim"
        )
    elif line:
        out.append(line, "dim" if greyed else style)
    else:  # no chart (none defined, or none yet): say what the number counts instead
        out.append(clean(panel.description, width), "dim")
        described = True
    out.append("\n")
    if result.error_kind:
        kind = result.error_kind.replace("_", " ")
        if result.error_kind == "no_data" and getattr(panel, "empty", ""):
            kind = clean(panel.empty, width)
        elif result.error_kind in ("bad_query", "error") and result.error:
            kind += ": " + clean(result.error, width - 14)
        if getattr(result, "last_good", False) and result.sample_time:
            kind += f" · last value {fmt.hms(result.sample_time)}"
        out.append(kind, "red" if result.error_kind != "no_data" else "yellow")
    elif result.staleness is not None and result.staleness > 60:
        out.append(f"stale {fmt.ago(result.staleness)}", "yellow")
    elif result.warnings:
        out.append(clean(result.warnings[0], width), "yellow")
    elif not described:
        out.append(clean(panel.description, width), "dim")
    return out


def alert_row(alert: Any, now: float) -> Row:
    summary = alert.annotations.get("summary") or alert.annotations.get("description", "")
    since = alert.age(now) if hasattr(alert, "age") else None
    sev_style = SEVERITY_STYLE.get(alert.severity, "")
    state = alert.state + (" (silenced)" if alert.silenced else "")
    # firing before pending, then the most severe, then the newest: what needs you first
    order = (
        alert.state != "firing",
        SEVERITY_RANK.get(alert.severity, len(SEVERITY_RANK)),
        since if since is not None else float("inf"),
    )
    cells = (
        cell(alert.severity, 8, sev_style, sort_key=order),
        cell(state, 7, "bold" if alert.state == "firing" else "dim"),
        cell(alert.name, 26, sev_style if alert.state == "firing" else ""),
        cell(fmt.ago(since), 8, sort_key=since or 0.0),
        cell(fmt.fit(summary, 48), 48),
        cell(alert.runbook or "-", 18),
    )
    return Row(alert.identity, cells, f"{alert.name} {summary} {alert.runbook}".lower())


async def _metrics_part(backend: Backend, window: str) -> tuple[Any, Any, str | None]:
    metrics = backend.metrics()
    if metrics is None:
        return None, None, backend.metrics_problem
    panels, alerts = await asyncio.gather(metrics.fetch_panels(window), metrics.alerts())
    return panels, alerts, None


async def _agents_part(
    backend: Backend, now: float, dead_after: float
) -> tuple[list[Row], set[str]]:
    plane = backend.plane()
    records = await plane.agents.list(order="cost", limit=RUNAWAY_SCAN)
    limits = await plane.budgets.get()
    rows, reasons = [], set()
    for rec in records:
        why = runaway_reasons(rec, limits, now, dead_after)
        if not why:
            continue
        reasons.update(why)
        cells = (
            cell(rec.id, 16, "bold red"),
            cell(rec.tenant, 12),
            cell(rec.steps, 5, sort_key=rec.steps),
            cell(fmt.count(rec.tokens), 7, sort_key=rec.tokens),
            cell(fmt.money(rec.cost), 9, sort_key=rec.cost),
            cell(",".join(why), 20, "red"),
        )
        rows.append(Row(rec.id, cells, rec.id.lower()))
    return rows[:8], reasons


RUNAWAY_SCAN = 50  # the costliest agents the list judges (costs grow with the top N only)
RUNAWAY_ALERT = "AgentRunaway"  # deploy/prometheus/alerts.yml
RUNAWAY_PANEL = "runaway_stopped"  # the preset's "Runaway runs stopped" (the alert's first leg)
ALERT_LEGS = {"steps"}  # what the alert's second leg sees of the list's reasons


def runaway_note(
    alerts: dict[str, Any] | None, panels: list[Any] | None, listed: int, why: set[str]
) -> str:
    """Why AgentRunaway and the list below can disagree, in one line (or nothing).

    The list is the rule of ``control/runaway.py`` applied to the costliest running agents
    now; the alert fires on runs the guard already stopped in the last 5 minutes (gone from
    the list) or on any run near its step limit (the same rule: ``agent_run_step_limit``),
    and knows nothing of budgets, runtime or silence.
    """
    if alerts is None:  # no alerts source: nothing to compare with
        return ""
    firing = any(a.name == RUNAWAY_ALERT and a.state == "firing" for a in alerts.values())
    stopped = next(
        (p.value for p in panels or [] if p.panel.id == RUNAWAY_PANEL and p.value is not None),
        None,
    )
    runs = f"{stopped:.0f} run{'s' * (round(stopped) != 1)}" if stopped else ""
    if firing and not listed:
        if runs:
            return (
                f"{RUNAWAY_ALERT} fires for the {runs} the guard stopped in 5m; "
                f"none of the {RUNAWAY_SCAN} costliest running agents is near a limit"
            )
        # the step leg, by the same rule: that run is not among the costliest the list reads
        return (
            f"{RUNAWAY_ALERT} fires on a run near its step limit; none of the "
            f"{RUNAWAY_SCAN} costliest running agents is"
        )
    if firing:
        return f"{RUNAWAY_ALERT} fires" + (f"; the guard also stopped {runs} in 5m" if runs else "")
    if listed and not why & ALERT_LEGS:
        shown = ", ".join(sorted(why))
        return f"no {RUNAWAY_ALERT}: it watches steps and guard stops, these are listed for {shown}"
    return ""


RECENT_CHANGES = 4  # the newest audited changes the overview lists
RECENT_COLUMNS = [Column("change", "CHANGE", 62)]


def recent_changes(entries: list[Any], width: int = 62) -> list[str]:
    """The last audited changes, newest first, as a person says them: "22:41:07 alice
    breaker.trip openai: mode: auto → forced_open — provider down" (no JSON, no epochs)."""
    from agentconsole.control import audit_diff

    lines = []
    for e in reversed(entries):
        changed = e.before is not None and e.after is not None  # the action says the rest
        parts = audit_diff.parts(e.before, e.after) if changed else []
        what = fmt.fit_parts(parts, 30) if parts else ""
        why = f" — {e.reason}" if e.reason else ""
        line = f"{fmt.hms(e.ts)} {e.actor} {e.action} {e.target}"
        full = line + (f": {what}" if what else "") + why
        # too long: the reason (why) outlives the detail (what), which the Audit view has
        lines.append(fmt.fit(full if len(full) <= width else line + why, width))
    return lines


def recent_rows(entries: list[Any]) -> list[Row]:
    """The recent changes as rows keyed by their audit id: enter shows one's before/after."""
    rows = []
    for entry, line in zip(reversed(entries), recent_changes(entries), strict=True):
        ms, _, seq = entry.id.partition("-")
        order = (int(ms), int(seq or 0)) if ms.isdigit() and seq.isdigit() else (0, 0)
        rows.append(Row(entry.id, (cell(line, 62, sort_key=order),), line.lower()))
    return rows


class OverviewView(View):
    view_id = "overview"
    title = "Overview"
    aliases: ClassVar[tuple[str, ...]] = ("overview", "ov", "o", "home", "dash")
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("w", "window", "Window", id="overview.window"),
        Binding("b", "runbook", "Runbook", id="overview.runbook"),
        Binding("v", "move_tenant", "Move tenant to variant", id="overview.move", show=False),
        Binding("k", "kill", "Kill runaway", id="overview.kill"),
        # gentler than k: the runaway's run holds at its next step until resumed (2 Agents, r)
        Binding("z", "pause_runaway", "Pause runaway", id="overview.pause", show=False),
    ]
    ACTION_OPERATIONS: ClassVar[dict[str, tuple[str, ...]]] = {
        "move_tenant": ("tenant.move",),
        "kill": ("kill.agent",),
        "pause_runaway": ("pause.agent",),
    }
    DEFAULT_CSS = """
    OverviewView #panels { grid-size: 4; grid-gutter: 0 1; height: auto; }
    OverviewView .panel { height: 4; border-left: wide $panel; padding: 0 1;
        text-wrap: nowrap; text-overflow: ellipsis; }
    OverviewView .panel.breach { border-left: wide $error; }
    OverviewView .panel.warning { border-left: wide $warning; }
    OverviewView .panel.ok { border-left: wide $success; }
    OverviewView #overview-bottom { height: 1fr; }
    OverviewView #alerts-box { width: 2fr; }
    OverviewView #top-box { width: 64; }
    OverviewView .section { color: $text-muted; text-style: bold; }
    OverviewView.compact #panels { grid-size: 2; grid-rows: 2; }
    OverviewView.compact .panel { height: 2; }
    OverviewView.compact .panel.hidden { display: none; }
    OverviewView.compact #top-box { width: 40%; }
    OverviewView.compact #alerts-box { width: 1fr; }
    OverviewView #runaway-note { height: auto; max-height: 2; color: $warning; }
    OverviewView #recent-changes { height: auto; max-height: 4; color: $text-muted; }
    OverviewView #recent-table { height: auto; max-height: 4; }
    OverviewView #recent-table.empty, OverviewView #recent-changes.filled { display: none; }
    OverviewView.compact #recent-table, OverviewView.compact #recent-changes,
    OverviewView.compact #recent-title {
        display: none; }
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.window = WINDOWS[0]
        self.alerts: dict[str, Any] = {}
        self._cards: dict[str, Static] = {}
        self.change_entries: dict[str, Any] = {}  # recent change row -> its AuditEntry

    def compose(self):
        yield Static("", id="overview-note", markup=False)
        yield Grid(id="panels")
        with Horizontal(id="overview-bottom"):
            with Vertical(id="alerts-box"):
                yield Static("ALERTS (b: runbook)", classes="section", markup=False)
                yield LiveTable(ALERT_COLUMNS, id="alerts-table")
            with Vertical(id="top-box"):
                yield Static("TOP RUNAWAY AGENTS", classes="section", markup=False)
                yield Static("", id="runaway-note", markup=False)
                yield LiveTable(TOP_COLUMNS, id="top-table")
                yield Static("RECENT CHANGES", classes="section", id="recent-title", markup=False)
                yield Static("", id="recent-changes", markup=False)
                yield LiveTable(RECENT_COLUMNS, id="recent-table")

    def on_mount(self) -> None:
        if self.console.settings.ui.window in WINDOWS:
            self.window = self.console.settings.ui.window
        alerts = self.query_one("#alerts-table", LiveTable)
        alerts.sort_column, alerts.sort_reverse = "severity", False
        top = self.query_one("#top-table", LiveTable)
        top.sort_column, top.sort_reverse = "cost", True
        recent = self.query_one("#recent-table", LiveTable)
        recent.sort_column, recent.sort_reverse, recent.show_header = "change", True, False

    @property
    def table(self) -> LiveTable:
        return self.query_one("#alerts-table", LiveTable)

    def loader(self) -> Loader:
        clock = self.console.options.clock
        window = self.window
        dead_after = self.console.settings.registry.dead_after_seconds

        async def load(backend: Backend) -> OverviewData:
            now = clock()
            metrics_task = asyncio.ensure_future(_metrics_part(backend, window))
            redis_error = None
            change_entries: dict[str, Any] = {}
            runaway_why: set[str] = set()
            try:
                top_rows, runaway_why = await _agents_part(backend, now, dead_after)
                entries = await backend.plane().audit.tail(RECENT_CHANGES)
                changes, change_entries = recent_rows(entries), {e.id: e for e in entries}
            except Exception as exc:
                from agentconsole.control.plane import translate

                top_rows, redis_error, changes = [], str(translate(exc) or exc), []
                runaway_why = set()
            try:
                panels, alerts_result, problem = await metrics_task
            except Exception as exc:  # the metrics layer promises not to raise; be safe
                panels, alerts_result, problem = None, None, f"metrics layer failed: {exc}"
            alert_rows: list[Row] = []
            alerts: dict[str, Any] = {}
            alerts_error = None
            prometheus_ok: bool | None = None
            if alerts_result is not None:
                alerts_error = alerts_result.error
                for alert in alerts_result.alerts:
                    alerts[alert.identity] = alert
                    alert_rows.append(alert_row(alert, now))
            if panels is not None:
                down = [p for p in panels if p.error_kind in ("unreachable", "timeout")]
                prometheus_ok = not (panels and len(down) == len(panels))
            return OverviewData(
                panels,
                alert_rows,
                alerts,
                alerts_error,
                problem,
                top_rows,
                redis_error,
                prometheus_ok,
                window,
                now,
                changes=changes,
                change_entries=change_entries,
                runaway_why=runaway_why,
            )

        return load

    def paint(self, data: OverviewData) -> None:
        self.alerts = data.alerts
        note = self.query_one("#overview-note", Static)
        grid = self.query_one("#panels", Grid)
        if data.panels is None:
            note.update(
                Text(
                    clean(data.metrics_problem or "metrics layer unavailable", 200),
                    style="bold yellow",
                )
            )
        else:
            parts = [f"window {data.window} (w to change)"]
            if data.prometheus_ok is False:
                first = next((p.error for p in data.panels if p.error), "unreachable")
                parts.append(f"Prometheus: {clean(first, 90)}")
            if data.alerts_error and data.prometheus_ok is not False:
                parts.append(f"alerts: {clean(data.alerts_error, 80)}")
            note.update(Text(" · ".join(parts), style="dim"))
            shown = self.compact_choice(data.panels)
            for result in data.panels:
                card = self._cards.get(result.panel.id)
                if card is None:
                    card = Static("", classes="panel", markup=False)
                    self._cards[result.panel.id] = card
                    grid.mount(card)
                card.update(panel_text(result, data.now))
                card.set_class(result.panel.id not in shown, "hidden")
                for status in ("ok", "warning", "breach", "unknown"):
                    card.set_class(status == result.status and not result.error_kind, status)
        self.query_one("#alerts-table", LiveTable).set_rows(data.alert_rows)
        self.query_one("#top-table", LiveTable).set_rows(data.top_rows)
        alerts = data.alerts if data.alerts or data.panels is not None else None
        runaway = runaway_note(alerts, data.panels, len(data.top_rows), data.runaway_why)
        self.query_one("#runaway-note", Static).update(runaway)
        self.query_one("#runaway-note", Static).display = bool(runaway)
        self.change_entries = data.change_entries
        recent = self.query_one("#recent-table", LiveTable)
        recent.set_rows(data.changes)
        recent.set_class(not data.changes, "empty")  # classes, not display: compact hides both
        empty = self.query_one("#recent-changes", Static)
        empty.update("no change audited yet")
        empty.set_class(bool(data.changes), "filled")

    # 80x24 and the like: a 2x2 grid of two-line cards (title, value against target), the
    # panels in trouble first, so the alerts and the runaway list keep their rows
    COMPACT_BELOW = (120, 36)  # columns, rows
    COMPACT_CARDS = 4
    COMPACT_DEFAULT = ("success_rate", "error_rate", "p99_latency", "spend_per_hour")

    def on_resize(self) -> None:
        width, height = self.app.size
        self.set_class(width < self.COMPACT_BELOW[0] or height < self.COMPACT_BELOW[1], "compact")

    def compact_choice(self, results: list[Any]) -> set[str]:
        """The panels a compact overview shows: breaches, then warnings, then the defaults."""
        rank = {"breach": 0, "warning": 1}
        troubled = sorted(
            (r for r in results if r.status in rank and not r.error_kind),
            key=lambda r: rank[r.status],
        )
        chosen = [r.panel.id for r in troubled][: self.COMPACT_CARDS]
        known = {r.panel.id for r in results}
        for pid in self.COMPACT_DEFAULT:
            if len(chosen) < self.COMPACT_CARDS and pid in known and pid not in chosen:
                chosen.append(pid)
        return set(chosen)

    @property
    def runaway_table(self) -> LiveTable:
        return self.query_one("#top-table", LiveTable)

    def selection(self) -> dict[str, str]:
        """The runaway agent under the TOP RUNAWAY AGENTS cursor (act where you look: its
        row is highlighted whichever table has the focus)."""
        key = self.runaway_table.cursor_key
        return {"agent": key} if key else {}

    def action_kill(self) -> None:
        if not self.selection():
            self.tell("no runaway agent to kill")
            return
        self.action_op("kill.agent")

    def action_pause_runaway(self) -> None:
        if not self.selection():
            self.tell("no runaway agent to pause")
            return
        self.action_op("pause.agent")

    def action_window(self) -> None:
        self.window = WINDOWS[(WINDOWS.index(self.window) + 1) % len(WINDOWS)]
        self.tell(f"window {self.window}", "information")
        self.console.poll_now()

    def action_runbook(self) -> None:
        key = self.table.cursor_key
        alert = self.alerts.get(key or "")
        if alert is None:
            self.tell("no alert selected")
            return
        if not alert.runbook:
            self.tell(f"alert {alert.name} names no runbook")
            return
        self.console.open_runbook(alert.runbook, alert=alert)

    def action_move_tenant(self) -> None:
        """The tenant of the alert under the cursor (a spend alert carries its label)."""
        from agentconsole.tui.operations import OperationRequested

        alert = self.alerts.get(self.table.cursor_key or "")
        tenant = (alert.labels.get("tenant") or "") if alert is not None else ""
        if not tenant:
            self.tell("the selected alert names no tenant")
            return
        self.post_message(OperationRequested("tenant.move", {"tenant": tenant}))

    def on_data_table_row_selected(self, event: LiveTable.RowSelected) -> None:
        if event.data_table.id == "alerts-table":
            event.stop()
            self.action_runbook()
        elif event.data_table.id == "recent-table":
            from agentconsole.tui.audit_diff import AuditDiffScreen

            event.stop()
            table = event.data_table
            key = table.cursor_key if isinstance(table, LiveTable) else None
            entry = self.change_entries.get(key or "")
            if entry is not None:
                self.app.push_screen(
                    AuditDiffScreen(entry), lambda _=None: self.console.resume_refresh()
                )
        elif event.data_table.id == "top-table" and self.runaway_table.cursor_key:
            from agentconsole.tui.agent_detail import open_detail

            event.stop()
            open_detail(self.app, self.runaway_table.cursor_key)
