"""The Flags view's rollout plan panel: where the plan of the flag under the cursor stands,
each guard canary vs control as the controller last judged it, and the history; plus the
plan keys (pause/resume, advance, abort; each asks a reason) and the toast that says why
the controller rolled a canary back.

The keys run the operations table's ``rollout.*`` rows; the numbers come from the
controller's status hash (``control.controller.read_status``): the console shows exactly
what the controller decided on, it does not judge again.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from rich.text import Text

from agentconsole import text as words
from agentconsole.tui.safe import clean

if TYPE_CHECKING:
    from agentconsole.control.rollouts import Plan
    from agentconsole.tui.app import ConsoleApp

VERDICT_STYLE = {"pass": "green", "fail": "bold red", "wait": "yellow", "error": "magenta"}
TOLD = ("rollout.rollback", "rollout.pause", "rollout.advance")  # worth a toast when not ours


def plan_of(flag: Any) -> Plan | None:
    from agentconsole.control.errors import CorruptValue
    from agentconsole.control.rollouts import Plan

    if not getattr(flag, "plan", None):
        return None
    try:
        return Plan.from_doc(flag.plan)
    except CorruptValue:
        return None


def render(flag: Any, plan: Plan, status: dict[str, Any] | None, now: float | None = None) -> Text:
    """The panel's lines (literal text: every value from Redis is data, never markup)."""
    now = time.time() if now is None else now
    out = Text()
    steps = " > ".join(
        (f"[{words.format_percent(b)}]" if i == plan.step else words.format_percent(b))
        for i, b in enumerate(plan.steps_bp)
    )
    head = f"plan of {clean(flag.name, 60)}: {plan.state.replace('_', ' ')} · {steps}"
    if plan.state == "running":
        left = plan.hold_left(now)
        head += f" · hold {words.format_duration(round(left)) if left >= 1 else 'over'} left"
    head += f" · on regression: {plan.on_regression.replace('_', ' ')}"
    out.append(head + "\n", style="bold")
    if status is None:
        if plan.state == "running":
            out.append(
                "no controller has judged this plan: is `agentconsole rollouts run` running?\n",
                style="yellow",
            )
    else:
        ago = words.format_duration(max(1, round(now - float(status.get("at") or now))))
        out.append(f"controller judged {ago} ago: ", style="dim")
        out.append(clean(status.get("message", ""), 200) + "\n")
        for guard in ((status.get("evaluation") or {}).get("guards")) or []:
            out.append_text(_guard_line(guard))
    for entry in plan.history[-3:]:
        when = words.hms(entry.get("ts"))
        line = (
            f"  {when} {entry.get('event', '?')} at {words.format_percent(int(entry.get('bp', 0)))}"
            f" by {entry.get('actor', '?')}"
        )
        if entry.get("reason"):
            line += f": {entry['reason']}"
        out.append(clean(line, 200) + "\n", style="dim")
    return out


def _guard_line(guard: dict[str, Any]) -> Text:
    from agentconsole.metrics.guards import show

    metric = str(guard.get("metric", "?"))
    verdict = str(guard.get("verdict", "?"))
    line = Text(f"  {clean(guard.get('guard', metric), 24):<24} ")
    if guard.get("canary") is not None and guard.get("control") is not None:
        line.append(
            f"canary {show(metric, guard['canary'])} vs control {show(metric, guard['control'])} · "
        )
    line.append(
        f"{int(guard.get('canary_runs', 0)):,} vs {int(guard.get('control_runs', 0)):,} runs "
    )
    line.append(verdict.upper(), style=VERDICT_STYLE.get(verdict, ""))
    if guard.get("z") is not None:
        line.append(f" (z {float(guard['z']):.2f})", style="dim")
    return line + Text("\n")


# --- keys -----------------------------------------------------------------------------------


def ask(app: ConsoleApp, flag: Any, verb: str) -> None:
    """``verb``: pause (resume when paused), advance or abort; confirm with a reason, then
    run the operations table's row."""
    from agentconsole.tui.modals import ConfirmScreen

    plan = plan_of(flag)
    if plan is None:
        app.toast(f"flag {flag.name} has no rollout plan", severity="warning")
        return
    if verb == "pause" and plan.state == "paused":
        verb = "resume"
    name = f"rollout.{verb}"
    if not app.allowed(name):
        return
    here = words.format_percent(plan.current_bp)
    titles = {
        "pause": (f"Pause the plan of {flag.name} at {here}", "The flag stays where it is."),
        "resume": (f"Resume the plan of {flag.name} at {here}", "The hold starts again."),
        "advance": (
            f"Advance {flag.name} past {here} now, without waiting for its hold and guards",
            "More traffic gets the canary at once.",
        ),
        "abort": (
            f"Abort the plan of {flag.name}: the flag goes back to 0% (now {flag.rollout})",
            "Every run gets the control; the plan ends.",
        ),
    }
    title, detail = titles[verb]

    def go(decision: Any) -> None:
        app.run_worker(_run(app, flag.name, name, decision.reason), exit_on_error=False)

    app._ask(ConfirmScreen(title, [flag.name], detail=detail, verb=verb.capitalize()), go)


async def _run(app: ConsoleApp, flag: str, name: str, reason: str) -> None:
    from agentconsole.control import operations as ops

    op = ops.get(name)
    try:
        call = op.call({"flag": flag}, reason=reason)
        outcome = await app.backend.run(lambda backend: op.run(backend.plane(), call))
    except Exception as exc:
        app.report(exc, f"{op.verb} {flag}", op.permission)
        return
    app.toast(outcome.text)
    app.poll_now()


# --- the controller's decisions, told -----------------------------------------------------------


def notice(app: ConsoleApp, event: Any) -> bool:
    """A plan change made elsewhere (by the controller): toast what happened and why, read
    from the flag's own reason. True when handled (the generic toast is then not needed)."""
    if getattr(event, "entity", "") != "flag" or getattr(event, "action", "") not in TOLD:
        return False
    if getattr(event, "actor", "") == app.operator.name:
        return False  # our own change: its outcome was toasted already
    app.run_worker(_tell(app, event.name, event.action), exit_on_error=False)
    return True


async def _tell(app: ConsoleApp, name: str, action: str) -> None:
    try:
        flag = await app.backend.run(lambda backend: backend.plane().flags.get(name))
    except Exception:
        app.toast(f"flag {name}: {action.split('.')[-1]} by the rollout controller")
        return
    severity = "information" if action == "rollout.advance" else "warning"
    app.toast(
        clean(flag.reason or f"flag {name}: {action}", 300), title="rollout", severity=severity
    )
