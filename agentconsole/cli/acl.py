"""`agentconsole acl ...`: the Redis ACL users per role, who am I, and is the audit intact.

``generate`` needs no Redis: it prints rules derived from the key schema for the configured
(or given) prefix, with passwords only as SHA-256 hashes read from the environment.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from agentconsole.cli.common import Context, emit, fail
from agentconsole.cli.main import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from agentconsole.control import diagnostics

_JSON_HELP = "machine-readable output"


def _json_option(parser: argparse.ArgumentParser) -> None:
    # SUPPRESS keeps a global `--json` given before the command.
    parser.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help=_JSON_HELP)


def register(subparsers: Any) -> None:
    from agentconsole.control.acl import PASSWORD_ENV, ROLES

    parser = subparsers.add_parser("acl", help="Redis ACL users per role; audit integrity")
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    p = sub.add_parser(
        "generate",
        help="print ACL SETUSER lines or an aclfile for the roles",
        description=(
            "Print Redis ACL rules for the viewer, responder, admin and agent users. "
            f"Passwords are read from ${PASSWORD_ENV.format(role='<ROLE>')} and printed "
            "only as SHA-256 hashes; a role without one is created disabled (off)."
        ),
    )
    p.add_argument("--format", choices=("setuser", "aclfile"), default="setuser")
    p.add_argument("--prefix", help="key prefix (default: redis.prefix from the settings)")
    p.add_argument(
        "--user",
        action="append",
        default=[],
        metavar="ROLE=NAME",
        help="Redis user name for a role (default ac-<role>); repeatable",
    )
    p.add_argument("--role", action="append", choices=ROLES, help="only these roles (default: all)")
    p.add_argument(
        "--nopass", action="store_true", help="users without a password env get nopass (dev)"
    )
    p.add_argument(
        "--keep-default",
        action="store_true",
        help="aclfile: do not add the line that turns the 'default' user off",
    )
    p.add_argument(
        "--people",
        action="store_true",
        help="also one user per person in control.operators (applier mode: each may only "
        "send requests); passwords from $AGENTCONSOLE_ACL_PASSWORD_PERSON_<NAME>",
    )
    _json_option(p)
    p.set_defaults(func=generate_cmd)

    p = sub.add_parser("whoami", help="the Redis user this configuration connects as")
    _json_option(p)
    p.set_defaults(func=whoami_cmd)

    p = sub.add_parser("verify-audit", help="check the audit stream's counters for deleted entries")
    _json_option(p)
    p.set_defaults(func=verify_audit_cmd)


def _users(pairs: list[str]) -> dict[str, str] | None:
    from agentconsole.control.acl import ROLES

    users: dict[str, str] = {}
    for pair in pairs:
        role, sep, name = pair.partition("=")
        if not sep or role not in ROLES or not name or any(c.isspace() for c in name):
            return None
        users[role] = name
    return users


async def generate_cmd(args: argparse.Namespace, ctx: Context) -> int:
    from agentconsole.control.acl import ROLES, describe, generate
    from agentconsole.control.keys import Keys

    prefix = args.prefix or ctx.settings.redis.prefix
    if (
        not prefix
        or len(prefix) > 64
        or not prefix.isprintable()
        or any(c in prefix for c in "{}: \t\n*?[]\\\"'")
    ):
        shown = repr(prefix[:40]) + ("..." if len(prefix) > 40 else "")
        return fail(
            "--prefix: expected a name of at most 64 characters without braces, colons, "
            f"spaces or glob characters, got {shown}",
            EXIT_USAGE,
        )
    users = _users(args.user)
    if users is None:
        return fail(f"--user: expected ROLE=NAME with ROLE one of {', '.join(ROLES)}", EXIT_USAGE)
    keys = Keys(prefix)
    if args.people and not ctx.settings.control.operators:
        return fail("--people: control.operators lists nobody (name: role)", EXIT_USAGE)
    if getattr(args, "json", False):
        print(json.dumps(describe(keys, users), indent=2))
        return EXIT_OK
    out = generate(
        keys,
        fmt=args.format,
        users=users,
        nopass=args.nopass,
        keep_default=args.keep_default,
        roles=tuple(args.role or ROLES),
        people=ctx.settings.control.operators if args.people else None,
        controller=ctx.settings.rollouts.actor,  # if listed: its lease and status too
    )
    for line in out.lines:
        print(line)
    for note in out.notes:
        print(f"agentconsole: {note}", file=sys.stderr)
    return EXIT_OK


async def whoami_cmd(args: argparse.Namespace, ctx: Context) -> int:
    plane = await ctx.plane()
    user = await diagnostics.redis_user(plane)
    data = {
        "redis_user": user,
        "operator": plane.operator.name,
        "role": plane.operator.role,
        "url": ctx.settings.redis.url,
        "prefix": ctx.settings.redis.prefix,
    }
    emit(
        args,
        data,
        lambda: (
            f"{data['operator']} ({data['role']}) connected to {data['url']} "
            f"as Redis user {data['redis_user']}, prefix {data['prefix']}"
        ),
    )
    return EXIT_OK


async def verify_audit_cmd(args: argparse.Namespace, ctx: Context) -> int:
    plane = await ctx.plane()
    report = await diagnostics.audit_integrity(plane)
    emit(args, {"ok": report.ok, **report.__dict__}, report.summary)
    return EXIT_OK if report.ok else EXIT_FAILED
