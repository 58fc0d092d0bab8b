"""`agentconsole applier`: the one process that holds the write credential (long-running).

Operators configured with ``control.writes: applier`` only send requests; this applies
them, each as the person whose stream it came from (control/applier.py, docs/security.md).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import os
import signal
import socket
import sys
import time
from typing import Any

from agentconsole.cli.common import Context, fail, load
from agentconsole.cli.main import EXIT_OK, EXIT_USAGE
from agentconsole.config import ConfigError
from agentconsole.text import clean


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "applier",
        help="apply the operators' change requests with the write credential (long-running)",
        description="Reads every operator's request stream ({prefix}:requests:<user>, one per "
        "person in control.operators), checks the role, the action's entity, the four-eyes "
        "rule and the document, and applies each change once as its sender. Run two for "
        "availability: they share one consumer group and take over each other's requests. "
        "SIGHUP re-reads the config's control.operators (a person added or removed, a role "
        "changed) without a restart.",
    )
    p.add_argument("--name", help="consumer name (default: host and process id)")
    p.add_argument("--seconds", type=float, help="stop after this many seconds")
    p.set_defaults(func=run_applier)


async def run_applier(args: argparse.Namespace, ctx: Context) -> int:
    from agentconsole.control import ControlPlane, Operator
    from agentconsole.control.applier import Applier

    settings = ctx.settings
    if not settings.control.operators:
        return fail(
            "control.operators is empty: list each person and role (e.g. alice: responder) "
            "in the applier's config",
            EXIT_USAGE,
        )
    if settings.role != "admin":
        return fail(
            f"the applier writes for every role: it needs the admin credential and "
            f"operator.role admin (this config says {settings.role})",
            EXIT_USAGE,
        )
    direct = dataclasses.replace(settings.control, writes="direct")  # it is the write path
    settings = dataclasses.replace(settings, control=direct)
    plane = ControlPlane.from_settings(settings, Operator("applier", "admin"))
    await plane.check_schema()
    name = args.name or f"{socket.gethostname()}-{os.getpid()}"
    applier = Applier(plane, name)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, applier.stop)
    if args.seconds:
        loop.call_later(args.seconds, applier.stop)
    stamp = time.strftime("%H:%M:%S", time.gmtime())
    people = ", ".join(f"{p} ({r})" for p, r in settings.control.operators.items())
    print(
        clean(
            f"{stamp} applier {name} on {settings.redis.url} prefix {settings.redis.prefix}: "
            f"{people}",
            500,
        ),
        flush=True,
    )

    def say(text: str) -> None:
        print(clean(f"{time.strftime('%H:%M:%S', time.gmtime())} {text}", 500), flush=True)

    def reload() -> None:
        """SIGHUP: read the config again for its people; a bad config changes nothing."""
        try:
            fresh = load(args)
        except ConfigError as exc:
            say(f"reload refused, the people stay as they were: {exc}")
            return
        if not fresh.control.operators:
            say("reload refused, the people stay as they were: control.operators is empty")
            return
        say(applier.reload(fresh.control.operators))

    with contextlib.suppress(NotImplementedError, RuntimeError):
        loop.add_signal_handler(signal.SIGHUP, reload)
    try:
        await applier.run(say=say)
    finally:
        await plane.close()
    s = applier.stats
    print(
        f"applier stopped: {s.applied} applied, {s.refused} refused, {s.expired} expired, "
        f"{s.claimed} taken over",
        file=sys.stderr,
    )
    return EXIT_OK
