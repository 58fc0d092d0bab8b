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
from agentconsole.tui.operations import Ask, Notice
from agentconsole.tui.safe import clean

if TYPE_CHECKING:
    from agentconsole.control.operations import Call
    from agentconsole.control.plane import ControlPlane
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


ON_RED = {"pause": "pause", "rollback": "back to 0%", "last_good": "back to last good"}
WIDTH = 78  # one line each at 80 columns


def render(flag: Any, plan: Plan, status: dict[str, Any] | None, now: float | None = None) -> Text:
    """The panel's lines, each fitting 80 columns (literal text: every value from Redis is
    data, never markup)."""
    now = time.time() if now is None else now
    out = Text()
    steps = " > ".join(
        (f"[{words.format_percent(b)}]" if i == plan.step else words.format_percent(b))
        for i, b in enumerate(plan.steps_bp)
    )
    head = f"plan: {plan.state.replace('_', ' ')}  {steps}"
    if plan.state == "running":
        left = plan.hold_left(now)
        head += f"  hold {words.format_duration(round(left)) if left >= 1 else 'over'} left"
    head += f"  red: {ON_RED.get(plan.on_regression, plan.on_regression)}"
    out.append(clean(head, WIDTH) + "\n", style="bold")
    if status is None:
        if plan.state == "running":
            out.append(
                "no controller has judged it: is `agentconsole rollouts run` running?\n",
                style="yellow",
            )
    else:
        ago = words.format_duration(max(1, round(now - float(status.get("at") or now))))
        said = f"judged {ago} ago: {status.get('action', '?')}"
        if status.get("action") in ("wait", "hold", "failed", "pause"):
            said += f": {status.get('message', '')}"
        out.append(clean(said, WIDTH) + "\n", style="dim")
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
        out.append(clean(line, WIDTH) + "\n", style="dim")
    return out


def _guard_line(guard: dict[str, Any]) -> Text:
    """``  error_rate:+0.5pt  canary 4.1 % vs control 0.6 %  1,240 vs 3,710 runs  FAIL``"""
    from agentconsole.metrics.guards import show

    metric = str(guard.get("metric", "?"))
    verdict = str(guard.get("verdict", "?"))
    line = Text(f"  {clean(guard.get('guard', metric), 20)}  ")
    if guard.get("canary") is not None and guard.get("control") is not None:
        line.append(
            f"canary {show(metric, guard['canary'])} vs control {show(metric, guard['control'])}  "
        )
    runs = int(guard.get("canary_runs", 0)), int(guard.get("control_runs", 0))
    line.append(f"{runs[0]:,} vs {runs[1]:,} runs  ")
    line.append(verdict.upper(), style=VERDICT_STYLE.get(verdict, ""))
    return line + Text("\n")


# --- keys -----------------------------------------------------------------------------------

DEFAULT_SPEC = "1,5,25,50,100 10m error_rate:+0.5pt p99:+20%"


def parse_spec(flag: str, spec: str) -> Any:
    """The dialog's one line (``STEPS HOLD GUARD... [min-runs N] [on-regression X]``) read by
    the ``rollout.create`` row, as on the ``:`` line: a Call, or InvalidValue."""
    import shlex

    from agentconsole.control import operations as ops
    from agentconsole.control.errors import InvalidValue

    op = ops.get("rollout.create")
    try:
        tokens = shlex.split(spec)
    except ValueError as exc:
        raise InvalidValue(f"cannot read the plan: {exc}") from None
    return op.call(ops.bind(op, [flag, *tokens], lambda w: w))


PLAN_HELP = (
    "STEPS HOLD GUARD... [window 5m] [min-runs 200] "
    "[on-regression pause|rollback|last-good] [confidence 0.95]"
)


def plan_summary(flag: str, spec: str) -> str:
    """What the typed line makes (``5% > 50% > 100%, hold 2m each; guards ...``), or why it
    is refused."""
    from agentconsole.control.rollouts import plan_from_args

    try:
        plan = plan_from_args(parse_spec(flag, spec).args)
    except Exception as exc:
        return str(exc)
    steps = " > ".join(words.format_percent(b) for b in plan.steps_bp)
    guards = ", ".join(g.text() for g in plan.guards)
    return (
        f"{steps}, hold {words.format_duration(plan.hold_seconds)} each; guards "
        f"{guards}; {plan.min_runs:,} runs a side; on regression "
        f"{plan.on_regression.replace('_', ' ')}"
    )


def plan_problem(flag: str, spec: str) -> str | None:
    """Why the typed line makes no plan (None: it makes one)."""
    from agentconsole.control.rollouts import plan_from_args

    try:
        plan_from_args(parse_spec(flag, spec).args)
    except Exception as exc:
        return str(exc)
    return None


async def ask(plane: ControlPlane, call: Call) -> Ask:
    """``N``: a new plan for a flag with none active, asked as one line (``PLAN_HELP``)."""
    if "steps" in call.args:
        return Ask()  # written in full (the : line, the palette): nothing more to ask
    flag = await plane.flags.get(call.args["flag"])
    plan = plan_of(flag)
    if plan is not None and plan.active:
        return Ask(refusal=f"flag {flag.name} already has a {plan.state} plan")
    return Ask(
        line=DEFAULT_SPEC,
        line_help=PLAN_HELP,
        hint=lambda values: plan_summary(flag.name, values.get("line", "")),
        check=lambda values: plan_problem(flag.name, values.get("line", "")),
        title=f"New rollout plan for {flag.name} (starts with P)",
        detail=PLAN_HELP,
    )


def pause_key_operation(flag: Any) -> str | None:
    """What ``P`` does to the flag's plan: start it, pause it or resume it (None: no plan)."""
    plan = plan_of(flag)
    if plan is None or not plan.active:
        return None
    return {"created": "rollout.start", "paused": "rollout.resume"}.get(plan.state, "rollout.pause")


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
        app.post_message(Notice(f"flag {name}: {action.split('.')[-1]} by the rollout controller"))
        return
    severity = "information" if action == "rollout.advance" else "warning"
    said = clean(flag.reason or f"flag {name}: {action}", 300)
    app.post_message(Notice(said, severity=severity, title="rollout"))
