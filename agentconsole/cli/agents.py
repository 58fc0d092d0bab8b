"""`agentconsole agents ...`: the registry (list, top, show), kills and their acknowledgements."""

from __future__ import annotations

import argparse
import time
from dataclasses import asdict
from typing import Any

from agentconsole.cli import dispatch
from agentconsole.cli.common import (
    EXIT_OK,
    EXIT_USAGE,
    Context,
    add_output_options,
    ago,
    clean,
    emit,
    fail,
    table,
    utc,
)
from agentconsole.control import operations
from agentconsole.control.registry import STATUSES
from agentconsole.control.runaway import runaway_reasons


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("agents", help="running agents: list, top, kill, lift")
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    p = sub.add_parser("list", help="agents by most recent heartbeat")
    p.add_argument("--limit", "-n", type=_positive_int, default=50)
    p.add_argument("--status", choices=STATUSES, help="only agents in this status")
    p.add_argument("--tenant", help="only agents of this tenant")
    add_output_options(p)
    p.set_defaults(func=list_agents, order="heartbeat")

    p = sub.add_parser("top", help="the agents using the most tokens or cost")
    p.add_argument("--by", dest="order", choices=("tokens", "cost"), default="tokens")
    p.add_argument("--limit", "-n", type=_positive_int, default=10)
    add_output_options(p)
    p.set_defaults(func=list_agents, status=None, tenant=None)

    p = sub.add_parser("show", help="one agent in full")
    p.add_argument("id")
    add_output_options(p)
    p.set_defaults(func=show_agent)

    p = sub.add_parser("kill", help="stop one agent, a tenant's agents, or all (asks first)")
    p.add_argument("ids", nargs="*", metavar="ID", help="agent ids")
    p.add_argument("--tenant", help="every agent of this tenant")
    p.add_argument("--all", dest="everything", action="store_true", help="every agent")
    dispatch.add_options(p, operations.get("kill.agent"))
    p.set_defaults(func=kill, operations=("kill.agent", "kill.tenant", "kill.all"))

    p = sub.add_parser("lift", help="lift a kill so agents of that scope may run again")
    p.add_argument("id", nargs="?", help="agent id")
    p.add_argument("--tenant", help="the tenant")
    p.add_argument("--all", dest="everything", action="store_true", help="the global stop")
    dispatch.add_options(p, operations.get("kill.lift"))
    p.set_defaults(func=lift, operations=("kill.lift",))

    dispatch.add(sub, "agent.reap")
    dispatch.add(sub, "registry.upgrade", command="upgrade")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a number above 0, got {text!r}")
    return value


def _one_scope(args: argparse.Namespace, ids: list[str]) -> str | None:
    chosen = [x for x in (bool(ids), bool(args.tenant), args.everything) if x]
    if len(chosen) != 1:
        fail("choose exactly one kill target: agent ids, --tenant T or --all", EXIT_USAGE)
        return None
    return "agent" if ids else "tenant" if args.tenant else "all"


def agent_dict(rec: Any) -> dict[str, Any]:
    return asdict(rec) | {"tokens": rec.tokens}


async def list_agents(args: argparse.Namespace, ctx: Context) -> int:
    plane = await ctx.plane()
    records = await plane.agents.list(
        order=args.order, limit=args.limit, tenant=args.tenant, status=args.status
    )
    limits, now = await plane.budgets.get(), time.time()
    dead_after = plane.settings.registry.dead_after_seconds
    attention = {r.id: runaway_reasons(r, limits, now, dead_after) for r in records}

    def human() -> str:
        if not records:
            return "no agents"
        rows = [
            (
                r.id,
                r.status + (" !" + ",".join(attention[r.id]) if attention[r.id] else ""),
                r.task,
                r.user,
                r.tenant,
                r.model,
                r.steps,
                r.tokens,
                f"${r.cost:.4f}",
                ago(r.heartbeat_at),
                r.applied_version,
            )
            for r in records
        ]
        headers = (
            "id",
            "status",
            "task",
            "user",
            "tenant",
            "model",
            "steps",
            "tokens",
            "cost",
            "heartbeat",
            "cpv",
        )
        return table(headers, rows)

    agents = [agent_dict(r) | {"attention": attention[r.id]} for r in records]
    emit(args, {"agents": agents}, human)
    return EXIT_OK


async def show_agent(args: argparse.Namespace, ctx: Context) -> int:
    from agentconsole.control.errors import NotFound

    plane = await ctx.plane()
    rec = await plane.agents.get(args.id)
    if rec is None:
        raise NotFound(f"no agent with id {args.id!r} in the registry")

    traces = ctx.settings.traces
    trace_url = (
        traces.url(trace_id=rec.trace_id, agent_id=rec.id, tenant=rec.tenant, user=rec.user)
        if traces.url_template and rec.trace_id
        else ""
    )

    def human() -> str:
        lines = [
            ("id", rec.id),
            ("status", rec.status),
            ("task", rec.task),
            ("user", rec.user),
            ("tenant", rec.tenant),
            ("model", rec.model),
            ("trace id", rec.trace_id or "-"),
            *([("trace", trace_url)] if trace_url else []),  # traces.url_template
            ("host/pid", f"{rec.host or '-'}/{rec.pid}"),
            ("started", f"{utc(rec.started_at)} ({ago(rec.started_at)})"),
            ("heartbeat", f"{utc(rec.heartbeat_at)} ({ago(rec.heartbeat_at)})"),
            ("steps", rec.steps),
            ("tokens", f"{rec.tokens} ({rec.tokens_in} in, {rec.tokens_out} out)"),
            ("cost", f"${rec.cost:.4f}"),
            ("applied cpv", rec.applied_version),
        ]
        if rec.kill_ack_at:
            lines.append(("killed", f"{utc(rec.kill_ack_at)} by {rec.killed_by or '-'}"))
            lines.append(("kill reason", rec.kill_reason or "-"))
        return "\n".join(f"{k + ':':12} {clean(v, 200)}" for k, v in lines)

    emit(args, agent_dict(rec) | ({"trace_url": trace_url} if trace_url else {}), human)
    return EXIT_OK


async def kill(args: argparse.Namespace, ctx: Context) -> int:
    """The table's kill: publish, list the agents it stops, wait, report who did not ack."""
    scope = _one_scope(args, args.ids)
    if scope is None:
        return EXIT_USAGE
    op = operations.get(f"kill.{scope}")
    raw = (
        {"agent": args.ids} if scope == "agent" else {"tenant": args.tenant} if args.tenant else {}
    )
    return await dispatch.run(args, ctx, op, raw)


async def lift(args: argparse.Namespace, ctx: Context) -> int:
    scope = _one_scope(args, [args.id] if args.id else [])
    if scope is None:
        return EXIT_USAGE
    name = args.id if scope == "agent" else args.tenant
    raw = {"scope": scope, "name": name if scope != "all" else None}
    return await dispatch.run(args, ctx, operations.get("kill.lift"), raw)
