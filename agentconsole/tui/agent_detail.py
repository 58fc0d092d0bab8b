"""Enter on an agent: everything the registry holds about its run, and its trace.

`o` opens the trace: the URL from ``traces.url_template`` is copied to the clipboard
(OSC 52: it reaches the operator's own machine through SSH and tmux) and shown in a
toast; on a local desktop it also opens in the browser. Without a template the trace id
is copied. Why not always open a browser: over SSH it would open on the server, and a
terminal browser (lynx) would take over the console's own screen.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual import work
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static

from agentconsole import text
from agentconsole.control.kills import marked
from agentconsole.control.runaway import runaway_reasons
from agentconsole.tui import fmt

if TYPE_CHECKING:
    from agentconsole.control.registry import AgentRecord
    from agentconsole.tui.app import ConsoleApp
    from agentconsole.tui.backend import Backend


@dataclass
class Detail:
    record: AgentRecord | None
    reasons: list[str]  # the runaway rule's (control/runaway.py), as the lists show it
    kills: list[str]  # kill targets in force that stop this agent
    holds: list[str] = field(default_factory=list)  # drains, pauses that hold it


async def load(backend: Backend, agent_id: str, now: float) -> Detail:
    plane = backend.plane()
    record = await plane.agents.get(agent_id)
    if record is None:
        return Detail(None, [], [])
    limits = await plane.budgets.get()
    reasons = runaway_reasons(record, limits, now, plane.settings.registry.dead_after_seconds)
    kills, _ = await plane.kills.list()
    holds, _ = await plane.holds.list()
    mine = {f"agent:{record.id}", f"tenant:{record.tenant}", "all"}
    held = marked(holds, [h for h in holds if h.split(":", 1)[1] in mine])
    return Detail(record, reasons, marked(kills, [k for k in kills if k in mine]), held)


def can_open_browser(env: Mapping[str, str] | None = None) -> bool:
    """A browser on the operator's own desktop: not over SSH, and a display to open on."""
    env = os.environ if env is None else env
    if env.get("SSH_CONNECTION") or env.get("SSH_TTY"):
        return False
    return sys.platform == "darwin" or bool(env.get("DISPLAY") or env.get("WAYLAND_DISPLAY"))


def detail_text(d: Detail, now: float, trace_hint: str) -> Text:
    rec = d.record
    out = Text()
    if rec is None:
        out.append("this agent is no longer in the registry (finished and reaped)", "yellow")
        return out

    def row(label: str, value: str, style: str = "") -> None:
        out.append(f"  {label:<12}", "cyan")
        out.append(text.clean(value, 120) + "\n", style)

    out.append(text.clean(rec.id, 60), "bold")
    out.append(f"  {rec.status}\n", "bold red" if d.reasons else "")
    row("task", rec.task or "-")
    row("tenant", rec.tenant or "-")
    row("user", rec.user or "-")
    row("model", rec.model or "-")
    row("process", f"{rec.host or '?'} pid {rec.pid}" if rec.pid else rec.host or "-")
    started = f"{text.hms(rec.started_at)} UTC, {fmt.ago(now - rec.started_at)} ago"
    row("started", started if rec.started_at else "-")
    row("heartbeat", f"{fmt.ago(now - rec.heartbeat_at)} ago" if rec.heartbeat_at else "-")
    row("steps", str(rec.steps), "bold red" if "steps" in d.reasons else "")
    tokens = f"{rec.tokens:,} ({rec.tokens_in:,} in, {rec.tokens_out:,} out)"
    row("tokens", tokens)
    row("cost", fmt.money(rec.cost), "bold red" if "budget" in d.reasons else "")
    row("config", f"control plane v{rec.applied_version} applied")
    if d.reasons:
        row("runaway", ", ".join(d.reasons), "bold red")
    if d.kills:
        row("kills", ", ".join(d.kills) + " in force (l in the Agents view lifts)", "bold red")
    if d.holds:
        shown = ", ".join(h.replace(":", " ", 1) for h in d.holds)
        row("holds", shown + " in force (u undrains, r resumes in the Agents view)", "bold yellow")
    if rec.kill_id:
        ack = f", acknowledged {text.hms(rec.kill_ack_at)} UTC" if rec.kill_ack_at else ""
        row("killed", f"by {rec.killed_by or '?'}: {rec.kill_reason or '-'}{ack}", "red")
    row("trace", rec.trace_id or "(none recorded)", "bold")
    out.append(f"\n{trace_hint}", "dim")
    return out


class AgentDetailScreen(ModalScreen[None]):
    """One agent's run in full; `o` opens (or copies) its trace, esc closes."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("o", "open_trace", "Open trace", id="agent.trace"),
        Binding("c", "copy_id", "Copy agent id", id="agent.copy"),
        Binding("escape,q", "close", "Close", id="agent.close"),
    ]
    DEFAULT_CSS = """
    AgentDetailScreen { align: center middle; }
    AgentDetailScreen > Vertical { width: 96; max-width: 100%; height: auto;
        max-height: 90%; border: thick $accent; background: $surface; padding: 0 1; }
    """

    def __init__(self, agent_id: str, *, open_trace: bool = False) -> None:
        super().__init__()
        self.agent_id = agent_id
        self.detail: Detail | None = None
        self.open_trace = open_trace  # `o` in the Agents view: open it once loaded

    def tell(self, text: str, severity: str = "information") -> None:
        """A word for the operator: the app toasts it (a screen never calls up into the app)."""
        from agentconsole.tui.operations import Notice

        self.post_message(Notice(text, severity=severity))

    @property
    def console(self) -> ConsoleApp:
        return self.app  # type: ignore[return-value]

    def compose(self):
        with Vertical():
            yield Static(Text(f"loading {text.clean(self.agent_id, 60)} …"), id="agent-detail")

    def on_mount(self) -> None:
        self.refresh_detail()
        # live while open (steps, cost, heartbeat move): one agent's hash per refresh
        self.set_interval(max(1.0, self.console.interval), self.refresh_detail)

    @work(exclusive=True, group="agent-detail", exit_on_error=False)
    async def refresh_detail(self) -> None:
        now = self.console.options.clock()
        try:
            detail = await self.console.backend.run(load, self.agent_id, now)
        except Exception as exc:
            from agentconsole.tui.app import _describe

            self.query_one("#agent-detail", Static).update(
                Text(f"cannot read {self.agent_id}: {_describe(exc)}", "red")
            )
            return
        self.detail = detail
        self.query_one("#agent-detail", Static).update(detail_text(detail, now, self.hint()))
        if self.open_trace:
            self.open_trace = False
            self.action_open_trace()

    def hint(self) -> str:
        where = "opens and copies" if can_open_browser() else "copies"
        if not self.console.settings.traces.url_template:
            return "o copies the trace id (set traces.url_template to link it) · c copies the id"
        return f"o {where} the trace URL · c copies the agent id · esc closes"

    def trace_url(self) -> str | None:
        rec = self.detail.record if self.detail else None
        if rec is None or not rec.trace_id or not self.console.settings.traces.url_template:
            return None
        return self.console.settings.traces.url(
            trace_id=rec.trace_id, agent_id=rec.id, tenant=rec.tenant, user=rec.user
        )

    def action_open_trace(self) -> None:
        rec = self.detail.record if self.detail else None
        if rec is None or not rec.trace_id:
            self.tell(f"no trace recorded for {self.agent_id}", "warning")
            return
        url = self.trace_url()
        if url is None:
            self.app.copy_to_clipboard(rec.trace_id)
            self.tell(f"copied trace id {rec.trace_id} (no traces.url_template set)")
            return
        self.app.copy_to_clipboard(url)
        if can_open_browser():
            self.app.open_url(url)
            self.tell(f"opened and copied {url}")
        else:  # SSH or tmux: the URL on screen as well (terminals make it clickable)
            self.tell(f"copied {url}")

    def action_copy_id(self) -> None:
        self.app.copy_to_clipboard(self.agent_id)
        self.tell(f"copied {self.agent_id}")

    def action_close(self) -> None:
        self.dismiss(None)


def open_detail(app: Any, agent_id: str, *, open_trace: bool = False) -> None:
    """Push the detail; refresh of the view underneath waits while it is up."""
    screen = AgentDetailScreen(agent_id, open_trace=open_trace)
    app.push_screen(screen, lambda _=None: app.resume_refresh())
