"""`agentconsole audit tail [-n N] [--follow]`: who changed what, when, and why."""

from __future__ import annotations

import argparse
import json
from typing import Any

from agentconsole.cli.common import EXIT_OK, Context, add_output_options, clean, emit, table

_BLOCK_MS = 1000


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("audit", help="the audit log of operator actions")
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = sub.add_parser("tail", help="the newest entries, oldest first")
    p.add_argument("-n", "--lines", type=int, default=20, metavar="N", help="how many (20)")
    p.add_argument("--follow", "-f", action="store_true", help="keep printing new entries")
    add_output_options(p)
    p.set_defaults(func=tail)


def summarise(entry: Any) -> str:
    """What changed, in a few words: 'rollout: 100% → 25%', 'mode: forced_open → auto',
    'created' (the one reading of a change: ``control/audit_diff.py``)."""
    from agentconsole.control import audit_diff

    if entry.before is None and entry.after is not None and entry.entity != "flag":
        return "created"
    return "; ".join(audit_diff.lines(entry.entity, entry.before, entry.after)) or "-"


def _when(ts: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S") if ts else "-"


def _row(entry: Any) -> tuple[str, ...]:
    return (
        _when(entry.ts),
        f"{entry.actor} ({entry.role})",
        entry.action,
        f"{entry.entity} {entry.target}",
        summarise(entry),
        entry.reason or "-",
        str(entry.cp_version),
    )


HEADERS = ("time (utc)", "who", "action", "target", "change", "reason", "cpv")


async def tail(args: argparse.Namespace, ctx: Context) -> int:
    plane = await ctx.plane()
    entries = await plane.audit.tail(max(args.lines, 0)) if args.lines > 0 else []
    as_json = getattr(args, "json", False)
    if args.follow:
        for entry in entries:
            _print_one(entry, as_json)
        last = entries[-1].id if entries else await plane.audit.last_id()
        await _follow(plane, last, as_json)
        return EXIT_OK
    emit(
        args,
        {"entries": [e.to_dict() for e in entries]},
        lambda: table(HEADERS, [_row(e) for e in entries]) if entries else "no audit entries",
    )
    return EXIT_OK


def _print_one(entry: Any, as_json: bool) -> None:
    if as_json:
        print(json.dumps(entry.to_dict(), default=str, sort_keys=True), flush=True)
    else:
        print("  ".join(clean(c, 80) for c in _row(entry)), flush=True)


async def _follow(plane: Any, last: str, as_json: bool) -> None:
    """Block on the stream a second at a time until interrupted."""
    while True:
        for entry in await plane.audit.wait_after(last, _BLOCK_MS):
            last = entry.id
            _print_one(entry, as_json)
