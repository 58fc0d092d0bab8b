"""`agentconsole breakers ...`: see every circuit breaker, trip, force-close or reset one."""

from __future__ import annotations

import argparse
import sys
from dataclasses import asdict
from typing import Any

from agentconsole.cli import dispatch
from agentconsole.cli.common import (
    EXIT_OK,
    Context,
    add_output_options,
    ago,
    clean,
    emit,
    table,
)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("breakers", help="circuit breakers per dependency")
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    p = sub.add_parser("list", help="operator mode and observed state of every dependency")
    add_output_options(p)
    p.set_defaults(func=list_breakers)

    for name in ("breaker.trip", "breaker.force_close", "breaker.reset"):
        dispatch.add(sub, name)


def view_dict(view: Any) -> dict[str, Any]:
    return {
        "dependency": view.dependency,
        "mode": asdict(view.mode),
        "mode_in_force": view.mode.effective(),
        "observed": asdict(view.observed),
        "effective_state": view.effective_state,
    }


async def list_breakers(args: argparse.Namespace, ctx: Context) -> int:
    plane = await ctx.plane()
    views, problems = await plane.breakers.list()
    for problem in problems:
        print(f"agentconsole: warning: {clean(problem, 300)}", file=sys.stderr)

    def human() -> str:
        if not views:
            return "no breakers (none tripped by an operator or reported by an agent)"
        rows = []
        for v in views:
            mode = v.mode.effective()
            until = ago(v.mode.until) if mode != "auto" and v.mode.until else "-"
            rows.append(
                (
                    v.dependency,
                    v.effective_state,
                    mode,
                    until,
                    v.observed.state,
                    f"{v.observed.failure_rate * 100:.1f}%",
                    v.observed.calls,
                    ago(v.observed.last_transition),
                    v.mode.changed_by or "-",
                )
            )
        headers = (
            "dependency",
            "state",
            "mode",
            "until",
            "observed",
            "fail",
            "calls",
            "transition",
            "by",
        )
        return table(headers, rows)

    emit(args, {"breakers": [view_dict(v) for v in views], "problems": problems}, human)
    return EXIT_OK
