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
        last = entries[-1].id if entries else await _last_id(plane)
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


async def _last_id(plane: Any) -> str:
    rows = await plane.redis.xrevrange(plane.keys.audit, count=1)
    return _text(rows[0][0]) if rows else "0-0"


def _text(raw: Any) -> str:
    return raw.decode() if isinstance(raw, bytes) else str(raw)


async def _follow(plane: Any, last: str, as_json: bool) -> None:
    """Block on the stream (XREAD) a second at a time until interrupted."""
    from agentconsole.control.audit import AuditEntry

    key = plane.keys.audit
    while True:
        batches = await plane.redis.xread({key: last}, count=100, block=_BLOCK_MS)
        # RESP3 answers a mapping {stream: [rows]}, RESP2 a list of [stream, rows]
        groups = batches.values() if isinstance(batches, dict) else [r for _, r in batches or []]
        for rows in groups:
            for entry_id, fields in rows:
                entry = AuditEntry.from_stream(entry_id, fields)
                last = entry.id
                _print_one(entry, as_json)
