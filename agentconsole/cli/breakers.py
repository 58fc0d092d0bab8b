"""`agentconsole breakers ...`: see every circuit breaker, trip, force-close or reset one."""

from __future__ import annotations

import argparse
import sys
from dataclasses import asdict
from typing import Any

from agentconsole.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    Context,
    add_change_options,
    add_output_options,
    ago,
    clean,
    confirm,
    emit,
    parse_duration,
    table,
    utc,
)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("breakers", help="circuit breakers per dependency")
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    p = sub.add_parser("list", help="operator mode and observed state of every dependency")
    add_output_options(p)
    p.set_defaults(func=list_breakers)

    p = sub.add_parser("trip", help="force a breaker open: agents stop calling DEP (asks first)")
    p.add_argument("dependency")
    p.add_argument(
        "--for",
        dest="for_seconds",
        type=parse_duration,
        metavar="DURATION",
        help="revert to auto after this long (90s, 15m, 2h, 1d)",
    )
    add_change_options(p, destructive=True)
    add_output_options(p)
    p.set_defaults(func=trip)

    p = sub.add_parser("force-close", help="force a breaker closed: agents call DEP regardless")
    p.add_argument("dependency")
    p.add_argument(
        "--for",
        dest="for_seconds",
        type=parse_duration,
        metavar="DURATION",
        help="revert to auto after this long (90s, 15m, 2h, 1d)",
    )
    add_change_options(p)
    add_output_options(p)
    p.set_defaults(func=force_close)

    p = sub.add_parser("reset", help="back to auto: the agents' failure counting decides")
    p.add_argument("dependency")
    add_change_options(p)
    add_output_options(p)
    p.set_defaults(func=reset)


def view_dict(view: Any) -> dict[str, Any]:
    return {
        "dependency": view.dependency,
        "mode": asdict(view.mode),
        "mode_in_force": view.mode.effective(),
        "observed": asdict(view.observed),
        "effective_state": view.effective_state,
    }


def _mode_text(mode: Any) -> str:
    current = mode.effective()
    if current != "auto" and mode.until:
        return f"{current} (until {utc(mode.until)}, {ago(mode.until)})"
    if mode.mode != "auto" and current == "auto":
        return "auto (timed override expired)"
    return current


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


def _report(args: argparse.Namespace, mode: Any, verb: str) -> None:
    emit(
        args,
        asdict(mode) | {"mode_in_force": mode.effective()},
        lambda: (
            f"breaker {clean(mode.dependency)} {verb}: {_mode_text(mode)}, version {mode.version}"
        ),
    )


async def trip(args: argparse.Namespace, ctx: Context) -> int:
    plane = await ctx.plane()
    plane.operator.require("breaker.trip")  # refuse before asking, not after
    span = f" for {args.for_seconds:g} s" if args.for_seconds else " until reset"
    question = f"Trip breaker {clean(args.dependency)}{span}? Agents stop calling it at once."
    if not confirm(args, question):
        return EXIT_FAILED  # confirm() said why
    mode = await plane.breakers.trip(
        args.dependency, for_seconds=args.for_seconds, reason=args.reason
    )
    _report(args, mode, "tripped")
    return EXIT_OK


async def force_close(args: argparse.Namespace, ctx: Context) -> int:
    plane = await ctx.plane()
    mode = await plane.breakers.force_close(
        args.dependency, for_seconds=args.for_seconds, reason=args.reason
    )
    _report(args, mode, "forced closed")
    return EXIT_OK


async def reset(args: argparse.Namespace, ctx: Context) -> int:
    plane = await ctx.plane()
    mode = await plane.breakers.reset(args.dependency, reason=args.reason)
    _report(args, mode, "reset")
    return EXIT_OK
