"""The header: environment badge, connection health, operator, refresh, version rollout.

Two lines, always visible, so the operator never acts on production thinking it is
staging, and never trusts numbers from a connection that went stale.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rich.text import Text
from textual.widgets import Static

from agentconsole.tui import fmt
from agentconsole.tui.backend import Health
from agentconsole.tui.safe import clean

ENV_STYLE = {"red": "bold white on red", "yellow": "bold black on yellow"}


@dataclass
class HeaderState:
    environment: str
    env_color: str
    app_version: str
    hostname: str
    operator: str
    role: str
    read_only: bool
    view_title: str
    interval: float
    paused: bool
    now: float
    redis: Health
    prometheus: Health
    applied: tuple[int, int, int] | None  # (at latest, live, version)
    events_ok: bool | None
    reset: str | None = None  # a control-plane reset in progress (docs/reliability.md)
    problems: list[str] = field(default_factory=list)  # keys skipped as unreadable
    asks: list[str] = field(default_factory=list)  # pending four-eyes requests
    # kill targets in force, then drains and pauses as their holds fields (drain:tenant:acme)
    kills: list[str] = field(default_factory=list)
    no_applier: str | None = None  # applier mode and no applier running: changes fail


def health_text(h: Health) -> Text:
    out = Text()
    out.append(f"{h.name} ")
    if h.ok is None:
        out.append("…", "dim")
    elif h.ok:
        out.append("● ok", "green")
    elif h.last_ok is None:  # never reached: nothing on screen is stale, there is nothing
        out.append(f"✖ unreachable (retry {h.failures})", "bold red")
    else:
        out.append(f"✖ stale since {fmt.hms(h.stale_since)} (retry {h.failures})", "bold red")
    return out


def render_header(s: HeaderState, width: int = 160) -> Text:
    """Each line fits ``width`` (80 columns: version and host give way to what matters)."""
    badge_style = ENV_STYLE.get(s.env_color, f"bold white on {s.env_color}")
    out = Text(no_wrap=True, overflow="ellipsis")
    try:
        out.append(f" {clean(s.environment, 20).upper()} ", badge_style)
    except Exception:  # an unknown colour name in config: still show the badge
        out.append(f" {clean(s.environment, 20).upper()} ", "bold reverse")
    if width >= 110:
        out.append(f"  agentconsole {clean(s.app_version, 20)} @ {clean(s.hostname, 30)}", "bold")
    out.append(f"   {clean(s.operator, 24)} ({s.role})", "cyan")
    if s.read_only:
        out.append("  READ-ONLY", "bold yellow")
    out.append(f"   [{s.view_title}]", "bold magenta")
    out.append(f"   {fmt.hms(s.now)} UTC\n", "dim")
    out.append_text(health_text(s.redis))
    out.append("   ")
    out.append_text(health_text(s.prometheus))
    if s.events_ok is False:
        out.append("   live updates ✖", "yellow")
    out.append("   ")
    if s.paused:
        out.append("refresh PAUSED", "bold yellow")
    else:
        out.append(f"refresh {s.interval:g}s", "")
    out.append("   ")
    if s.applied is None:
        out.append("agents: ?", "dim")
    else:
        at, live, version = s.applied
        style = "green" if at == live else "yellow"
        out.append(f"{at}/{live} agents at v{version}", style)
    held = [k for k in s.kills if k.startswith(("drain:", "pause:"))]
    kills = [k for k in s.kills if k not in held]
    if kills:
        # a kill stays in force (new runs of its scope are stopped too) until lifted
        shown = ", ".join(clean(k, 40) for k in kills[:3])
        more = f" +{len(kills) - 3} more" if len(kills) > 3 else ""
        out.append(f"\n⛔ kills in force: {shown}{more} (2 Agents, l lifts)", "bold red")
    if held:
        # the ladder's first steps: liftable from the Agents view (u undrains, r resumes)
        shown = ", ".join(clean(h.replace(":", " ", 1), 40) for h in held[:3])
        more = f" +{len(held) - 3} more" if len(held) > 3 else ""
        out.append(f"\n⏸ in force: {shown}{more} (2 Agents, u undrains, r resumes)", "bold yellow")
    if s.reset:
        out.append(f"\n {clean(s.reset, 160)} ", "bold white on red")
    if s.no_applier:
        out.append(f"\n {clean(s.no_applier, 160)} ", "bold white on red")
    for ask in s.asks[:2]:
        out.append(f"\n⚑ {clean(ask, 160)}", "bold black on yellow")
    if len(s.asks) > 2:
        out.append(f" (+{len(s.asks) - 2} more: agentconsole approvals list)", "yellow")
    if s.problems:
        more = f" (+{len(s.problems) - 1} more: agentconsole status)" if len(s.problems) > 1 else ""
        out.append(f"\n⚠ unreadable: {clean(s.problems[0], 140)}{more}", "yellow")
    return out


class HeaderBar(Static):
    DEFAULT_CSS = """HeaderBar { height: auto; background: $panel; padding: 0 1;
        text-wrap: nowrap; text-overflow: ellipsis; }"""

    def show(self, state: HeaderState) -> None:
        self.update(render_header(state, self.size.width or self.app.size.width))
