"""The rollout plan rows of the operations table: their parameter kinds, runners and previews.

The rows themselves are in ``operations.OPERATIONS`` (``rollout.create`` ... ``rollout.abort``);
each runner changes the plan through :class:`~agentconsole.control.rollouts.Rollouts`, which
audits it in the same step as the flag change.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from agentconsole import text
from agentconsole.control.errors import InvalidValue

if TYPE_CHECKING:
    from agentconsole.control.operations import Call, Outcome, Preview
    from agentconsole.control.plane import ControlPlane
    from agentconsole.control.rollouts import Plan


def steps(raw: Any, what: str) -> list[int]:
    from agentconsole.control.rollouts import parse_steps

    if isinstance(raw, list) and all(isinstance(b, int) for b in raw):
        return raw
    try:
        return parse_steps(raw if isinstance(raw, str | list | tuple) else str(raw))
    except InvalidValue as exc:
        raise text.Invalid(str(exc)) from None


def guard(raw: Any, what: str) -> Any:
    from agentconsole.control.rollouts import Guard, parse_guard

    if isinstance(raw, Guard):
        return raw
    try:
        return parse_guard(str(raw))
    except InvalidValue as exc:
        raise text.Invalid(str(exc)) from None


def runs(raw: Any, what: str) -> int:
    value = str(raw).strip().replace(",", "")
    if not value.isdigit() or int(value) < 1:
        raise text.Invalid(f"{what} must be a whole number of runs, 1 or more, got {raw!r}")
    return int(value)


def confidence(raw: Any, what: str) -> float:
    try:
        value = float(str(raw).strip())
    except ValueError:
        raise text.Invalid(f"{what} must be a number like 0.95, got {text.quoted(raw)}") from None
    if not 0.5 <= value < 1:
        raise text.Invalid(f"{what} must be between 0.5 and 0.999, got {text.quoted(raw)}")
    return value


def regression(raw: Any, what: str) -> str:
    from agentconsole.control.rollouts import ON_REGRESSION

    value = str(raw).strip().lower().replace("-", "_")
    if value not in ON_REGRESSION:
        shown = ", ".join(v.replace("_", "-") for v in ON_REGRESSION)
        raise text.Invalid(f"{what} must be one of {shown}, got {text.quoted(raw)}")
    return value


def describe(name: str, plan: Plan) -> str:
    """One line: where the plan stands."""
    here = text.format_percent(plan.current_bp)
    total = len(plan.steps_bp)
    if plan.state == "running":
        left = text.format_duration(round(plan.hold_left())) if plan.hold_left() else "over"
        return f"plan of {name}: running at {here} (step {plan.step + 1} of {total}), hold {left}"
    if plan.state == "created":
        steps_shown = " > ".join(text.format_percent(b) for b in plan.steps_bp)
        guards = ", ".join(g.text() for g in plan.guards)
        return f"plan of {name}: created ({steps_shown}; guards {guards}), not started"
    if plan.state in ("aborted", "rolled_back"):
        return f"plan of {name}: {plan.state.replace('_', ' ')} at {here}, flag back to 0%"
    return f"plan of {name}: {plan.state.replace('_', ' ')} at {here}"


def _outcome(name: str, plan: Plan) -> Outcome:
    from agentconsole.control.operations import Outcome

    return Outcome(describe(name, plan), plan.to_doc() | {"flag": name})


async def create(plane: ControlPlane, call: Call) -> Outcome:
    from agentconsole.control.rollouts import Rollouts, plan_from_args

    name = call.args["flag"]
    plan = plan_from_args(call.args)
    return _outcome(name, await Rollouts(plane).create(name, plan, reason=call.reason))


def _verb(method: str) -> Any:
    async def run(plane: ControlPlane, call: Call) -> Outcome:
        from agentconsole.control.rollouts import Rollouts

        name = call.args["flag"]
        plan = await getattr(Rollouts(plane), method)(name, reason=call.reason)
        return _outcome(name, plan)

    run.__name__ = method
    return run


start, pause, resume, advance, abort = (
    _verb(m) for m in ("start", "pause", "resume", "advance", "abort")
)


async def preview_advance(plane: ControlPlane, call: Call) -> Preview:
    from agentconsole.control.operations import Preview
    from agentconsole.control.rollouts import Rollouts

    name = call.args["flag"]
    _flag, plan = await Rollouts(plane).get(name)
    if plan.step + 1 >= len(plan.steps_bp):
        return Preview(call.line, [name])
    here = text.format_percent(plan.current_bp)
    nxt = text.format_percent(plan.steps_bp[plan.step + 1])
    return Preview(
        f"Advance {name} from {here} to {nxt} now, without waiting for its hold and guards",
        [name],
        f"{nxt} of the traffic gets the canary at once.",
        confirm=True,
    )


async def preview_abort(plane: ControlPlane, call: Call) -> Preview:
    from agentconsole.control.operations import Preview
    from agentconsole.control.rollouts import Rollouts

    name = call.args["flag"]
    flag, _plan = await Rollouts(plane).get(name)
    return Preview(
        f"Abort the plan of {name}: the flag goes back to 0% (now {flag.rollout})",
        [name],
        "Every run gets the control; the plan ends (a new plan can be created).",
        confirm=True,
    )
