"""`agentconsole budgets ...`: the live limits, today's usage per user, and changing a limit."""

from __future__ import annotations

import argparse
from dataclasses import asdict
from typing import Any

from agentconsole.cli import dispatch
from agentconsole.cli.common import (
    EXIT_OK,
    Context,
    add_output_options,
    clean,
    emit,
    table,
    utc,
)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("budgets", help="token and cost limits, usage today")
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    p = sub.add_parser("show", help="the limits in force and today's usage per user")
    p.add_argument("--users", type=int, default=20, metavar="N", help="top N users (default 20)")
    add_output_options(p)
    p.set_defaults(func=show)

    dispatch.add(sub, "budget.set", help="change one limit, live (admin)")
    dispatch.add(sub, "budget.tenant", command="tenant")


async def show(args: argparse.Namespace, ctx: Context) -> int:
    from agentconsole.control.budgets import LIMIT_NAMES, LIMIT_UNITS, format_limit, today

    plane = await ctx.plane()
    limits = await plane.budgets.get()
    defaults = plane.budgets.defaults()
    usage = await plane.budgets.usage()
    day = today()
    users = sorted(usage.items(), key=lambda kv: -kv[1].get("tokens", 0))[: args.users]

    def human() -> str:
        rows = [
            (
                name,
                format_limit(name, getattr(limits, name)),
                format_limit(name, getattr(defaults, name)),
                LIMIT_UNITS[name],
            )
            for name in LIMIT_NAMES
        ]
        out = [table(("limit", "value", "default", "unit"), rows)]
        if limits.version:
            out.append(
                f"version {limits.version}, changed {utc(limits.changed_at)} by "
                f"{clean(limits.changed_by)}"
            )
        else:
            out.append("no limit changed yet: the defaults from the config are in force")
        out.append("")
        if users:
            urows = [
                (
                    user,
                    f"{u.get('tokens', 0):,.0f}",
                    f"${u.get('cost_usd', 0):.4f}",
                    f"{u.get('reserved_tokens', 0):,.0f}",
                    f"${u.get('reserved_cost_usd', 0):.4f}",
                )
                for user, u in users
            ]
            out.append(f"usage on {day} (UTC):")
            out.append(table(("user", "tokens", "cost", "reserved", "reserved cost"), urows))
        else:
            out.append(f"no usage on {day} (UTC)")
        return "\n".join(out)

    data = {
        "limits": asdict(limits),
        "defaults": {n: getattr(defaults, n) for n in LIMIT_NAMES},
        "day": day,
        "usage": dict(users),
    }
    emit(args, data, human)
    return EXIT_OK
