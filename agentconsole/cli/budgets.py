"""`agentconsole budgets ...`: the live limits, today's usage per user, and changing a limit."""

from __future__ import annotations

import argparse
from dataclasses import asdict
from typing import Any

from agentconsole.cli.common import (
    EXIT_OK,
    Context,
    add_change_options,
    add_output_options,
    clean,
    emit,
    table,
    utc,
)

UNITS = {
    "request_tokens": "tokens per request",
    "user_daily_tokens": "tokens per user per day",
    "user_daily_cost_usd": "USD per user per day",
    "run_max_steps": "steps per run",
    "run_max_seconds": "seconds per run",
    "fleet_daily_cost_usd": "USD per day, whole fleet (panel target; 0 = none)",
    "tenant_daily_cost_usd": "USD per tenant per day (panel target; 0 = none)",
}


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("budgets", help="token and cost limits, usage today")
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    p = sub.add_parser("show", help="the limits in force and today's usage per user")
    p.add_argument("--users", type=int, default=20, metavar="N", help="top N users (default 20)")
    add_output_options(p)
    p.set_defaults(func=show)

    p = sub.add_parser("set", help="change one limit, live (admin)")
    p.add_argument("name", help=", ".join(UNITS))
    p.add_argument("value", help="a number, 0 or more")
    add_change_options(p)
    add_output_options(p)
    p.set_defaults(func=set_limit)


def _value(name: str, value: float) -> str:
    return (
        f"${value:g}"
        if name.endswith("_usd")
        else f"{value:,.0f}"
        if value >= 1000
        else f"{value:g}"
    )


async def show(args: argparse.Namespace, ctx: Context) -> int:
    from agentconsole.control.budgets import LIMIT_NAMES, today

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
                _value(name, getattr(limits, name)),
                _value(name, getattr(defaults, name)),
                UNITS[name],
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


async def set_limit(args: argparse.Namespace, ctx: Context) -> int:
    from agentconsole.control.budgets import normalise_name

    plane = await ctx.plane()
    key = normalise_name(args.name)
    before = getattr(await plane.budgets.get(), key)
    limits = await plane.budgets.set(key, args.value, reason=args.reason)
    after = getattr(limits, key)
    emit(
        args,
        asdict(limits),
        lambda: (
            f"budget {key}: {_value(key, before)} -> {_value(key, after)} "
            f"({UNITS[key]}), version {limits.version}"
        ),
    )
    return EXIT_OK
