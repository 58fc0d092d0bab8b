"""`agentconsole approvals`: four-eyes requests - list them, approve (which runs it) or reject.

An operation named in ``approvals:`` is stored as a request when someone asks for it
(control/approvals.py); a different operator decides here or in the console.
"""

from __future__ import annotations

import argparse
from typing import Any

from agentconsole.cli import dispatch
from agentconsole.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    Context,
    add_output_options,
    ago,
    emit,
    table,
)


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("approvals", help="four-eyes requests: list, approve, reject")
    sub = p.add_subparsers(dest="approvals_command", metavar="ACTION", required=True)
    ls = sub.add_parser("list", help="pending requests (all of them with --all)")
    ls.add_argument("--all", action="store_true", help="decided and expired ones too")
    add_output_options(ls)
    ls.set_defaults(func=list_requests)
    dispatch.add(sub, "approval.approve", help="approve and run it")
    dispatch.add(sub, "approval.reject", help="refuse it")


async def list_requests(args: argparse.Namespace, ctx: Context) -> int:
    from agentconsole.control import approvals

    plane = await ctx.plane()
    requests, problems = await approvals.list_requests(plane)
    shown = [r for r in requests if args.all or r.state == approvals.PENDING]
    rows = [
        (r.id, r.state, r.requested_by, r.line, r.reason, ago(r.requested_at), r.decided_by)
        for r in shown
    ]
    headers = ("id", "state", "asked by", "operation", "reason", "asked", "decided by")
    emit(
        args,
        {"requests": [r.doc() | {"state": r.state} for r in shown], "problems": problems},
        lambda: table(headers, rows) if rows else "no pending requests",
    )
    return EXIT_FAILED if problems else EXIT_OK
