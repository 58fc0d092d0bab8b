"""`agentconsole audit tail [-n N] [--follow]`: who changed what, when, and why."""

from __future__ import annotations

import argparse
import json
from typing import Any

from agentconsole.cli.common import EXIT_OK, Context, add_output_options, clean, emit, table

# Bookkeeping fields every document carries; a change summary leaves them out.
_NOISE = {"changed_by", "changed_at", "reason", "version", "at", "id", "requester", "role"}
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
    """What changed, in a few words: 'enabled: false -> true', 'created', 'deleted'."""
    before, after = entry.before, entry.after
    if entry.entity == "flag" and (before or after):
        from agentconsole.control.flag_diff import diff

        try:
            return "; ".join(diff(before, after)) or "no field changed"
        except Exception:  # an entry of another version: the generic summary below
            pass
    if before is None and after is not None:
        return "created"
    if after is None:
        return "deleted" if before is not None else "-"
    parts = []
    for key in sorted(set(before) | set(after)):
        if key in _NOISE or before.get(key) == after.get(key):
            continue
        old, new = before.get(key), after.get(key)
        if key == "until" or key.endswith("_at"):
            old, new = _clock(old), _clock(new)
        parts.append(f"{key}: {_short(old)} -> {_short(new)}")
    return "; ".join(parts) or "no field changed"


def _clock(value: Any) -> Any:
    """Epoch seconds as a UTC time of day, so a change summary reads like a log."""
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        from datetime import UTC, datetime

        return datetime.fromtimestamp(value, UTC).strftime("%H:%M:%SZ")
    return value


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 30 else text[:29] + "…"


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
