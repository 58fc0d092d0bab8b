"""`agentconsole status`: is the control plane reachable, and what is in force right now.

The first command an on-call engineer runs; it must answer (or fail with exit 3) fast, and
it still reports a schema written by a newer release instead of refusing to look.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from agentconsole.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    Context,
    add_output_options,
    emit,
    utc,
)
from agentconsole.control import diagnostics
from agentconsole.control.kills import marked


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("status", help="Redis, schema, versions, what is in force")
    add_output_options(p)
    p.set_defaults(func=status, lists_problems=True)


async def status(args: argparse.Namespace, ctx: Context) -> int:
    from agentconsole.control import ControlPlane
    from agentconsole.control.errors import SchemaMismatch
    from agentconsole.control.keys import SCHEMA_VERSION

    settings = ctx.settings
    plane = ControlPlane.from_settings(settings)
    ctx._plane = plane  # closed by the runner, like a plane made by ctx.plane()
    started = time.perf_counter()
    schema_problem = None
    try:
        schema = await plane.check_schema()
    except SchemaMismatch as exc:
        schema, schema_problem = None, str(exc)
    latency_ms = (time.perf_counter() - started) * 1000
    stored = await diagnostics.stored_schema(plane)
    epoch = await plane.epoch()
    reset = plane.reset
    at_latest, live, version = await plane.agents.applied_counts()
    total_agents = await plane.agents.count()
    registry_problems = []
    if await plane.agents.has_legacy():
        registry_problems.append(
            "agents registered by the previous (v1) registry layout are not shown: "
            "run `agentconsole agents upgrade` (admin) once the agents are upgraded"
        )
    flags, flag_problems = await plane.flags.list()
    breakers, breaker_problems = await plane.breakers.list()
    kills, kill_problems = await plane.kills.list()
    holds, hold_problems = await plane.holds.list()
    writes = await _writes(plane)
    data: dict[str, Any] = {
        "redis": {
            "url": settings.redis.url,
            "prefix": settings.redis.prefix,
            "reachable": True,
            "latency_ms": round(latency_ms, 1),
        },
        "schema": {
            "stored": _text(stored),
            "understood": SCHEMA_VERSION,
            "ok": schema is not None,
            "problem": schema_problem,
        },
        "control_plane_version": version,
        "epoch": {"id": epoch.id, "how": epoch.how, "at": epoch.at, "by": epoch.by}
        if epoch
        else None,
        "reset": reset.as_dict() if reset else None,
        "agents": {
            "registered": total_agents,
            "live": live,
            "at_latest_version": at_latest,
            "partitions": plane.keys.partitions,
        },
        "flags": {
            "total": len(flags),
            "enabled": sum(f.enabled for f in flags),
            "kill_switches_engaged": sum(f.is_kill_switch and not f.enabled for f in flags),
        },
        "breakers": {
            "total": len(breakers),
            "open": sum(b.effective_state == "open" for b in breakers),
            "operator_override": sum(b.mode.effective() != "auto" for b in breakers),
        },
        "kills": {"in_force": len(kills), "targets": sorted(kills), "unreadable": _bad(kills)},
        # drain:..., pause:...; an unreadable one is obeyed all the same (a problem line each)
        "holds": {"in_force": len(holds), "targets": sorted(holds), "unreadable": _bad(holds)},
        "rollouts": await _rollouts(plane, flags),
        "operator": {
            "name": plane.operator.name,
            "role": plane.operator.role,
            "role_source": "config/env"
            if settings.operator.role
            else "default (admin of a loopback Redis, viewer elsewhere)",
        },
        "config": str(settings.source) if settings.source else None,
        "writes": writes,
        "problems": registry_problems
        + ([writes["problem"]] if writes.get("problem") else [])
        + flag_problems
        + breaker_problems
        + kill_problems
        + hold_problems
        + diagnostics.problems(plane),
    }

    def human() -> str:
        d = data
        schema_line = (
            f"v{d['schema']['stored'] or SCHEMA_VERSION} (this agentconsole: v{SCHEMA_VERSION})"
            if schema_problem is None
            else f"PROBLEM: {schema_problem}"
        )
        kills_line = ", ".join(marked(kills)) or "none"
        lines = [
            (
                "redis",
                f"{settings.redis.url} prefix {settings.redis.prefix}: reachable, "
                f"{latency_ms:.1f} ms",
            ),
            ("schema", schema_line),
            (
                "control plane",
                f"version {version}, epoch "
                + (f"{epoch.id} ({epoch.how} by {epoch.by} {utc(epoch.at)})" if epoch else "none"),
            ),
            ("agents", f"{live} live, {at_latest} at version {version}, {total_agents} registered"),
            (
                "flags",
                f"{d['flags']['total']} ({d['flags']['enabled']} on, "
                f"{d['flags']['kill_switches_engaged']} kill-switches engaged)",
            ),
            (
                "breakers",
                f"{d['breakers']['total']} ({d['breakers']['open']} open, "
                f"{d['breakers']['operator_override']} overridden by an operator)",
            ),
            ("kills", f"{d['kills']['in_force']} in force: {kills_line}"),
            (
                "drains, pauses",
                f"{d['holds']['in_force']} in force: " + (", ".join(marked(holds)) or "none"),
            ),
            ("rollouts", _rollouts_line(d["rollouts"])),
            (
                "operator",
                f"{plane.operator.name} ({plane.operator.role}; {d['operator']['role_source']})",
            ),
            ("writes", _writes_line(writes)),
            ("config", d["config"] or "none found (defaults and environment)"),
        ]
        if reset:
            held = ", ".join(f"epoch {e or 'none'} v{v}" for e, v in reset.held_versions.items())
            lines.insert(0, ("RESET", f"{reset.banner()}: {reset.advice()}"))
            lines.insert(1, ("held", f"{held} (restore the backup that matches)"))
        lines += [("problem", p) for p in d["problems"]]
        from agentconsole.cli.common import clean

        return "\n".join(f"{k + ':':14} {clean(v, 200)}" for k, v in lines)

    emit(args, data, human)
    return EXIT_FAILED if schema_problem or reset or data["problems"] else EXIT_OK


async def _writes(plane: Any) -> dict[str, Any]:
    """How this configuration's changes reach Redis, and in applier mode who applies them."""
    from agentconsole.control.applier import LIVE_SECONDS, live_appliers, requester

    mode = plane.settings.control.writes
    if mode != "applier":
        return {"mode": mode}
    live = await live_appliers(plane)
    out: dict[str, Any] = {"mode": mode, "as": requester(plane), "appliers": live}
    if not live:
        out["problem"] = (
            f"applier mode, but no applier seen in the last {LIVE_SECONDS:g} s: every change "
            "fails until `agentconsole applier` runs"
        )
    return out


def _writes_line(writes: dict[str, Any]) -> str:
    if writes["mode"] != "applier":
        return "direct: this credential runs the change script (trusted operators only)"
    live = writes["appliers"]
    running = ", ".join(f"{name} {age:.1f} s ago" for name, age in live.items()) or "NONE"
    return f"through the applier as {writes['as']}: {len(live)} running ({running})"


async def _rollouts(plane: Any, flags: list[Any]) -> dict[str, Any]:
    """Running plans and whether a controller is judging them (the lease holder)."""
    from agentconsole.control.rollouts import ACTIVE

    states = [str((f.plan or {}).get("state")) for f in flags if f.plan]
    holder, ttl = await diagnostics.rollout_controller(plane)
    return {
        "running": states.count("running"),
        "active": sum(s in ACTIVE for s in states),
        "controller": holder,
        "lease_seconds_left": ttl,
    }


def _rollouts_line(r: dict[str, Any]) -> str:
    who = f"controller {r['controller']}" if r["controller"] else "no controller running"
    line = f"{r['running']} plan(s) running, {r['active']} active; {who}"
    if r["running"] and not r["controller"]:
        line += ": running plans do not advance or roll back (start agentconsole rollouts run)"
    return line


def _text(raw: Any) -> str | None:
    if raw is None:
        return None
    return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)


def _bad(docs: dict[str, dict[str, Any]]) -> list[str]:
    """The entries in force whose document does not parse (still obeyed by the agents)."""
    from agentconsole.control.codec import UNREADABLE

    return sorted(name for name, doc in docs.items() if UNREADABLE in doc)
