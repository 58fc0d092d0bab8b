"""`agentconsole agents ...`: the registry (list, top, show), kills and their acknowledgements."""

from __future__ import annotations

import argparse
from dataclasses import asdict
from typing import Any

from agentconsole.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    Context,
    add_change_options,
    add_output_options,
    ago,
    clean,
    confirm,
    emit,
    fail,
    table,
    utc,
)

STATUSES = ("running", "killing", "killed", "finished", "failed", "dead")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("agents", help="running agents: list, top, kill, resume")
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
    _target_options(p)
    p.add_argument(
        "--wait",
        type=float,
        default=2.0,
        metavar="SECONDS",
        help="how long to wait for agents to acknowledge (default 2; 0: do not wait)",
    )
    add_change_options(p, destructive=True)
    add_output_options(p)
    p.set_defaults(func=kill)

    p = sub.add_parser("resume", help="lift a kill so agents of that scope may run again")
    _target_options(p)
    add_change_options(p)
    add_output_options(p)
    p.set_defaults(func=resume)

    p = sub.add_parser("reap", help="forget agents silent for longer than the reap interval")
    add_change_options(p)
    add_output_options(p)
    p.set_defaults(func=reap)

    p = sub.add_parser(
        "upgrade", help="move a registry written by the previous (v1) layout into partitions"
    )
    add_change_options(p)
    add_output_options(p)
    p.set_defaults(func=upgrade)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a number above 0, got {text!r}")
    return value


def _target_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("id", nargs="?", help="agent id")
    parser.add_argument("--tenant", help="every agent of this tenant")
    parser.add_argument("--all", dest="everything", action="store_true", help="every agent")


def _target(args: argparse.Namespace) -> str | None:
    """The kill target, or None after printing a usage error (exactly one must be given)."""
    from agentconsole.control.errors import InvalidValue
    from agentconsole.control.kills import target_for

    try:
        return target_for(agent=args.id, tenant=args.tenant, everything=args.everything)
    except InvalidValue as exc:
        fail(str(exc), EXIT_USAGE)
        return None


def _describe(target: str) -> str:
    if target == "all":
        return "EVERY agent (global stop)"
    scope, _, name = target.partition(":")
    return f"agent {clean(name)}" if scope == "agent" else f"every agent of tenant {clean(name)}"


def agent_dict(rec: Any) -> dict[str, Any]:
    return asdict(rec) | {"tokens": rec.tokens}


async def list_agents(args: argparse.Namespace, ctx: Context) -> int:
    plane = await ctx.plane()
    records = await plane.agents.list(
        order=args.order, limit=args.limit, tenant=args.tenant, status=args.status
    )

    def human() -> str:
        if not records:
            return "no agents"
        rows = [
            (
                r.id,
                r.status,
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

    emit(args, {"agents": [agent_dict(r) for r in records]}, human)
    return EXIT_OK


async def show_agent(args: argparse.Namespace, ctx: Context) -> int:
    from agentconsole.control.errors import NotFound

    plane = await ctx.plane()
    rec = await plane.agents.get(args.id)
    if rec is None:
        raise NotFound(f"no agent with id {args.id!r} in the registry")

    def human() -> str:
        lines = [
            ("id", rec.id),
            ("status", rec.status),
            ("task", rec.task),
            ("user", rec.user),
            ("tenant", rec.tenant),
            ("model", rec.model),
            ("trace id", rec.trace_id or "-"),
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

    emit(args, agent_dict(rec), human)
    return EXIT_OK


async def kill(args: argparse.Namespace, ctx: Context) -> int:
    """Store and publish the kill, then say what actually happened: who acknowledged, who not."""
    target = _target(args)
    if target is None:
        return EXIT_USAGE
    plane = await ctx.plane()
    scope = target.split(":", 1)[0]
    plane.operator.require({"agent": "kill.agent", "tenant": "kill.tenant"}.get(scope, "kill.all"))
    if args.id and not await plane.agents.exists(args.id):
        from agentconsole.control.errors import NotFound

        raise NotFound(f"no agent with id {args.id!r} in the registry")
    if not args.yes:  # the count is for the human deciding; a script skips the fleet scan
        count = len(await plane.kills.affected(target))
        plural = "s" if count != 1 else ""
        question = f"Kill {_describe(target)}? {count} running agent{plural} now."
        if not confirm(args, question):
            return EXIT_FAILED  # confirm() said why
    outcome = await plane.kills.kill(
        agent=args.id, tenant=args.tenant, everything=args.everything, reason=args.reason
    )
    since = float(outcome.kill.get("at") or 0.0)
    report = await plane.kills.wait_for_acks(outcome.agents, since=since, timeout=args.wait)
    data = {
        "target": target,
        "created": outcome.created,
        "kill": outcome.kill,
        "agents": outcome.agents,
        "acknowledged": report.acknowledged,
        "not_acknowledged": report.missing,
    }

    def human() -> str:
        head = ""
        if not outcome.created:
            kill_doc = outcome.kill
            head = (
                f"a kill of {clean(target)} was already in force since "
                f"{ago(kill_doc.get('at'))} (by {clean(kill_doc.get('requester', '?'))}: "
                f"{clean(kill_doc.get('reason') or 'no reason')}); "
            )
        if not outcome.agents:
            return head + (
                f"kill of {clean(target)} in force; no running agent matched "
                "(agents that start later stop at once)"
            )
        if args.wait <= 0:
            n = len(outcome.agents)
            return head + f"kill of {clean(target)} sent to {n} agent{'s' * (n != 1)}; not waiting"
        return head + clean(report.summary(), 2000)

    emit(args, data, human)
    return EXIT_OK


async def resume(args: argparse.Namespace, ctx: Context) -> int:
    target = _target(args)
    if target is None:
        return EXIT_USAGE
    plane = await ctx.plane()
    await plane.kills.lift(target, reason=args.reason)
    emit(
        args,
        {"target": target, "cleared": True},
        lambda: f"kill of {clean(target)} lifted: new agents of that scope may run",
    )
    return EXIT_OK


async def reap(args: argparse.Namespace, ctx: Context) -> int:
    plane = await ctx.plane()
    removed = await plane.agents.reap(reason=args.reason)
    after = plane.settings.registry.reap_after_seconds
    emit(
        args,
        {"reaped": removed},
        lambda: f"reaped {removed} agent{'s' * (removed != 1)} silent for more than {after:g} s",
    )
    return EXIT_OK


async def upgrade(args: argparse.Namespace, ctx: Context) -> int:
    plane = await ctx.plane()
    moved = await plane.agents.migrate_legacy(reason=args.reason)
    emit(
        args,
        {"moved": moved},
        lambda: (
            f"moved {moved} agent{'s' * (moved != 1)} from the v1 registry into "
            f"{plane.keys.partitions} partitions"
        ),
    )
    return EXIT_OK
