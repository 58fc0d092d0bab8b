"""How the operations table's rows for valued flags run: overrides, weights, payloads,
constraints, and "move this tenant to a variant" with how many of its agents applied it.

The rows themselves (names, permissions, parameters) are in ``control/operations.py``;
each runner here changes the flag through ``plane.flags`` (checked, compare-and-set,
audited with the before/after, published) and says what happened in the readable diff.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from agentconsole.control.flag_diff import diff

if TYPE_CHECKING:
    from agentconsole.control.flags import Flag
    from agentconsole.control.operations import Call, Outcome, Preview
    from agentconsole.control.plane import ControlPlane

APPLY_POLL = 0.25  # seconds between looks at the tenant's agents after a move


def _outcome(
    before: Flag, flag: Flag, extra: str = "", data: dict[str, Any] | None = None
) -> Outcome:
    from agentconsole.control.operations import Outcome

    lines = diff(before, flag) or ["no change"]
    text = f"flag {flag.name} v{flag.version}: " + "; ".join(lines) + extra
    return Outcome(
        text, {"flag": flag.name, "version": flag.version, "changes": lines} | (data or {})
    )


async def override(plane: ControlPlane, call: Call) -> Outcome:
    a = call.args
    return await _override(plane, call, a["context"], a["value"], a.get("variant"))


async def clear_override(plane: ControlPlane, call: Call) -> Outcome:
    a = call.args
    return await _override(plane, call, a["context"], a["value"], None)


async def move_tenant(plane: ControlPlane, call: Call) -> Outcome:
    a = call.args
    return await _override(plane, call, "tenant", a["tenant"], a["variant"], action="tenant.move")


async def preview_move(plane: ControlPlane, call: Call) -> Preview:
    from agentconsole.control.flag_edits import existing_variant, forced_variant
    from agentconsole.control.operations import Preview
    from agentconsole.control.variants import payload_text

    a = call.args
    flag = await plane.flags.get(a["flag"])
    if call.expected_version is None:
        call.expected_version = flag.version  # the change is made against what was shown
    target = existing_variant(flag, a["variant"])
    ids = await plane.agents.live_running(a["tenant"])
    now = forced_variant(flag, "tenant", a["tenant"]) or "by weight"
    payload = f" ({payload_text(target.payload, 40)})" if target.payload is not None else ""
    return Preview(
        f"Move tenant {a['tenant']} to {target.name}{payload} on {flag.name} (now: {now})",
        sorted(ids),
        f"{len(ids)} running agent{'s' * (len(ids) != 1)} of the tenant pick it up at their "
        "next flag lookup; new runs start with it.",
        confirm=True,
    )


async def variants(plane: ControlPlane, call: Call) -> Outcome:
    a = call.args
    return _outcome(
        *await _change(
            plane,
            call,
            plane.flags.reshape,
            list(a["variants"]),
            value_type=a.get("type"),
            variant_stickiness=a.get("sticky"),
        )
    )


async def unconstrain(plane: ControlPlane, call: Call) -> Outcome:
    return _outcome(*await _change(plane, call, plane.flags.set_constraints, ()))


async def weights(plane: ControlPlane, call: Call) -> Outcome:
    shares = dict(call.args["weights"])
    return _outcome(*await _change(plane, call, plane.flags.set_weights, shares))


async def payload(plane: ControlPlane, call: Call) -> Outcome:
    from agentconsole.control.variants import parse_payload

    a = call.args
    before = await plane.flags.get(a["flag"])
    value = parse_payload(a["value"], before.value_type)  # refused before anything is written
    return _outcome(
        *await _change(plane, call, plane.flags.set_payload, a["variant"], value, before=before)
    )


async def constrain(plane: ControlPlane, call: Call) -> Outcome:
    constraints = tuple(call.args["constraints"])
    return _outcome(*await _change(plane, call, plane.flags.set_constraints, constraints))


async def _change(
    plane: ControlPlane,
    call: Call,
    change: Callable[..., Awaitable[Flag]],
    *args: Any,
    before: Flag | None = None,
    **options: Any,
) -> tuple[Flag, Flag]:
    """Make ``change`` (a ``plane.flags`` method) to the call's flag with the call's reason,
    compare-and-set against the version the caller saw, else the one read here; returns the
    flag before and after."""
    name = call.args["flag"]
    if before is None:
        before = await plane.flags.get(name)
    flag = await change(
        name, *args, reason=call.reason, expected_version=_expected(call, before), **options
    )
    return before, flag


async def _override(
    plane: ControlPlane, call: Call, context: str, value: str, variant: str | None, **options: Any
) -> Outcome:
    before, flag = await _change(
        plane, call, plane.flags.set_override, context, value, variant, **options
    )
    return await _applied(plane, call, before, flag, context, value)


async def _applied(
    plane: ControlPlane, call: Call, before: Flag, flag: Flag, context: str, value: str
) -> Outcome:
    """For a tenant: wait up to ``call.wait`` for its running agents to report the new
    control-plane version (their heartbeats carry it) and say how many did. The cost is the
    tenant's own agents, never the fleet."""
    if context != "tenant" or call.wait <= 0:
        return _outcome(before, flag)
    version = await plane.version()
    ids = await plane.agents.live_running(value)
    applied: set[str] = set()
    deadline = time.monotonic() + call.wait
    while ids:
        records = await plane.agents.get_many(ids, fields=("applied_version",))
        applied = {r.id for r in records if r.applied_version >= version}
        if len(applied) == len(ids) or time.monotonic() >= deadline:
            break
        await asyncio.sleep(APPLY_POLL)
    if not ids:
        extra = f"; tenant {value} has no running agent (new runs start with it)"
    else:
        extra = f"; {len(applied)} of {len(ids)} running agents of {value} applied it"
        if len(applied) < len(ids):
            extra += f" within {call.wait:g} s (the rest at their next sync)"
    out = _outcome(before, flag, extra, {"agents": len(ids), "applied": len(applied)})
    out.warning = len(applied) < len(ids)
    return out


def _expected(call: Call, before: Flag) -> int:
    """Compare-and-set against the version the caller saw, else the one just read."""
    return before.version if call.expected_version is None else call.expected_version
