"""`agentconsole incidents list|export|resolve`: runbook progress per alert instance."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from agentconsole.cli.common import EXIT_OK, Context, emit, table


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("incidents", help="incidents worked with runbooks")
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = sub.add_parser("list", help="incidents, newest first")
    p.add_argument(
        "--json", action="store_true", default=argparse.SUPPRESS, help="machine-readable output"
    )
    p.set_defaults(func=list_cmd)
    p = sub.add_parser("export", help="an incident's timeline as markdown")
    p.add_argument("id", help="incident id (from `incidents list`)")
    p.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of stdout")
    p.set_defaults(func=export_cmd)
    from agentconsole.cli import dispatch

    dispatch.add(sub, "incident.resolve", command="resolve")


def _when(ts: float | None) -> str:
    from agentconsole.runbook.timeline import stamp

    return stamp(ts).removesuffix(" UTC") if ts else "-"


async def list_cmd(args: argparse.Namespace, ctx: Context) -> int:
    from agentconsole.control.incidents import Incidents

    plane = await ctx.plane()
    incidents, problems = await Incidents(plane).list()
    for problem in problems:
        print(f"warning: {problem}", file=sys.stderr)
    rows = []
    for i in incidents:
        done = sum(1 for m in i.steps.values() if m.status == "done")
        skipped = len(i.steps) - done
        rows.append(
            (
                i.id,
                i.alert or "-",
                i.runbook,
                _when(i.started_at),
                i.started_by,
                f"{done} done, {skipped} skipped / {len(i.step_titles)}",
                len(i.actions),
                f"resolved {_when(i.ended_at)}" if i.resolved else "open",
            )
        )
    headers = ("id", "alert", "runbook", "started (utc)", "by", "steps", "actions", "status")
    emit(
        args,
        {"incidents": [i.to_doc() for i in incidents]},
        lambda: table(headers, rows) if rows else "no incidents",
    )
    return EXIT_OK


async def export_cmd(args: argparse.Namespace, ctx: Context) -> int:
    from agentconsole.runbook.timeline import export

    text = await export(await ctx.plane(), args.id)
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
        print(f"wrote {args.output}")
    else:
        sys.stdout.write(text)
    return EXIT_OK
