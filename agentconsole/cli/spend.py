"""`agentconsole spend`: who is burning money, against which cap, and when it crosses it.

The same report and cells as the console's Spend view (``metrics/forecast.py``): spend by
tenant today, the burn rate, the cap, the forecast, and the most expensive agents.
"""

from __future__ import annotations

import argparse
from typing import Any

from agentconsole.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_UNREACHABLE,
    Context,
    add_output_options,
    emit,
    table,
)


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "spend", help="spend by tenant and agent against the daily caps, with a forecast"
    )
    p.add_argument("--top", type=_top, default=5, help="tenants and agents shown (default 5)")
    p.add_argument("--tenant", type=_tenant, help="the most expensive agents of this tenant")
    p.add_argument(
        "--window", type=_window, help="burn rate window (default: the panels', 2m): 15m, 1h"
    )
    add_output_options(p)
    p.set_defaults(func=spend)


def _tenant(raw: str) -> str:
    from agentconsole import text

    try:
        return text.name(raw, "tenant")
    except text.Invalid as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _window(raw: str) -> str:
    from agentconsole import text

    try:
        return text.format_duration(text.duration(raw, "--window"))
    except text.Invalid as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _top(raw: str) -> int:
    try:
        n = int(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--top must be a whole number, got {raw!r}") from None
    if not 1 <= n <= 100:
        raise argparse.ArgumentTypeError(f"--top must be between 1 and 100, got {n}")
    return n


async def spend(args: argparse.Namespace, ctx: Context) -> int:
    from agentconsole.control import ControlPlane
    from agentconsole.metrics import forecast as fc
    from agentconsole.metrics.service import MetricsService

    plane = ControlPlane.from_settings(ctx.settings)
    ctx._plane = plane  # closed by the runner
    metrics = MetricsService(ctx.settings)
    try:
        report = await fc.spend_report(
            metrics, plane, top=args.top, agents_of=args.tenant, window=args.window
        )
    finally:
        await metrics.close()

    def human() -> str:
        lines = [report.headline, ""]
        if report.tenants:
            rows = [fc.tenant_cells(t) for t in report.tenants]
            lines += [table(fc.TENANT_HEADERS, rows), ""]
        lines.append(
            f"burn rate over the last {report.window}; today = since 00:00 UTC; "
            "cap* = the tenant's own (budget tenant T USD)"
        )
        if report.redis_error:
            lines.append(f"Redis: {report.redis_error}")
        if report.agents:
            lines += ["", table(fc.AGENT_HEADERS, [fc.agent_cells(a) for a in report.agents])]
        return "\n".join(lines)

    emit(args, fc.as_dict(report), human)
    if report.redis_unreachable:
        return EXIT_UNREACHABLE  # what is known from Prometheus is printed all the same
    return EXIT_FAILED if report.metrics_error or report.redis_error else EXIT_OK
