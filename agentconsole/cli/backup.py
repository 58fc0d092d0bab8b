"""`agentconsole backup` and `agentconsole restore`: the control state as a file, and back.

A backup can run from cron with a viewer's credential (it only reads). A restore is the
operator's decision after a reset (docs/reliability.md): admin only, audited, and the
agents that held their last snapshot adopt it.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

from agentconsole.cli import dispatch
from agentconsole.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    Context,
    add_output_options,
    emit,
)
from agentconsole.control import operations


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "backup", help="write flags, breakers, kills, budgets, schema and epoch to a file"
    )
    p.add_argument(
        "--output",
        "-o",
        help="file to write (default: agentconsole-backup-<prefix>-<UTC time>.json; - = stdout)",
    )
    add_output_options(p)
    p.set_defaults(func=backup)

    r = subparsers.add_parser(
        "restore", help="after a reset: restore a backup, or accept what Redis holds now"
    )
    what = r.add_mutually_exclusive_group(required=True)
    what.add_argument("file", nargs="?", help="a file written by `agentconsole backup`")
    what.add_argument(
        "--accept",
        action="store_true",
        help="keep the state Redis holds now (even empty) and let the agents apply it",
    )
    dispatch.add_options(r, operations.get("control.restore"))
    r.set_defaults(func=restore, operations=("control.restore", "control.accept"))


async def backup(args: argparse.Namespace, ctx: Context) -> int:
    from agentconsole.control.backup import take

    plane = await ctx.plane()
    data = await take(plane)
    text = json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    if args.output == "-":
        print(text, end="")
        return EXIT_OK
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(data["taken_at"]))
    path = Path(args.output or f"agentconsole-backup-{plane.keys.prefix}-{stamp}.json")
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # kills name tenants
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)
    tmp.replace(path)
    counts = {name: len(data[name]) for name in ("flags", "breakers", "kills", "budgets")}
    summary = {"file": str(path), "version": data["version"], "epoch": data["epoch"], **counts}
    summary["problems"] = data["problems"]

    def human() -> str:
        epoch = (data["epoch"] or {}).get("id", "none")
        lines = [
            f"wrote {path}: epoch {epoch} version {data['version']}, "
            f"{counts['flags']} flags, {counts['breakers']} breakers, {counts['kills']} kills, "
            f"{'budget limits' if counts['budgets'] else 'default budgets'}"
        ]
        lines += [f"warning: skipped unreadable entry: {p}" for p in data["problems"]]
        return "\n".join(lines)

    emit(args, summary, human)
    return EXIT_FAILED if data["problems"] else EXIT_OK


async def restore(args: argparse.Namespace, ctx: Context) -> int:
    """The table's ``control.accept`` or ``control.restore FILE`` (asks first, naming it)."""
    if args.accept:
        return await dispatch.run(args, ctx, operations.get("control.accept"), {})
    return await dispatch.run(args, ctx, operations.get("control.restore"), {"file": args.file})
