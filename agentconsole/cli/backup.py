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

from agentconsole.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    Context,
    add_change_options,
    add_output_options,
    confirm,
    emit,
    fail,
    utc,
)


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
    add_change_options(r, destructive=True)
    add_output_options(r)
    r.set_defaults(func=restore)


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
    from agentconsole.control import backup as backups

    plane = await ctx.plane()
    status = await plane.reset_status()
    held = status.held_versions if status else {}
    if args.accept:
        data = None
        question = "accept the state Redis holds now as the control plane"
        if status:
            question += f" ({status.agents} agents holding their last snapshot apply it)"
    else:
        try:
            data = backups.validate(json.loads(Path(args.file).read_text(encoding="utf-8")))
        except OSError as exc:
            return fail(f"cannot read {args.file}: {exc.strerror or exc}")
        except (ValueError, UnicodeDecodeError) as exc:
            return fail(f"{args.file} is not a JSON backup: {exc}")
        source = (data.get("epoch") or {}).get("id", "")
        question = (
            f"restore {args.file} (epoch {source or 'none'} version {data['version']}, "
            f"taken {utc(data.get('taken_at'))} by {data.get('taken_by', '?')})"
        )
        newer = held.get(source, -1) > data["version"]
        if newer:
            question += (
                f" - the agents hold version {held[source]}, newer than this backup: "
                "changes since it are lost"
            )
    if not confirm(args, question + "?"):
        return fail("not restored")
    if data is None:
        decision = await backups.accept(plane, reason=args.reason)
    else:
        decision = await backups.restore(plane, data, reason=args.reason)

    def human() -> str:
        what = "accepted the current state" if args.accept else f"restored {args.file}"
        lines = [f"{what}: new epoch {decision.epoch.id}, control plane version {decision.version}"]
        if decision.kills_kept:
            lines.append(f"kept {decision.kills_kept} kills already in force")
        if status:
            lines.append(f"{status.agents} agents held their last snapshot: they now apply it")
        return "\n".join(lines)

    emit(
        args,
        {
            "how": decision.how,
            "epoch": decision.epoch.id,
            "version": decision.version,
            "restored": decision.restored,
            "kills_kept": decision.kills_kept,
            "held": decision.held,
        },
        human,
    )
    return EXIT_OK
