"""`agentconsole flags ...`: list, show and change feature flags through the control plane."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from agentconsole.cli import dispatch, flag_values
from agentconsole.cli.common import (
    EXIT_OK,
    Context,
    add_change_options,
    add_output_options,
    ago,
    clean,
    emit,
    fail,
    table,
    utc,
)

FLAG_TYPES = ("release", "experiment", "operational", "kill-switch")
STICKINESS = ("user", "tenant", "agent")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("flags", help="feature flags: list, show, change")
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    p = sub.add_parser("list", help="every flag, one line each")
    add_output_options(p)
    p.set_defaults(func=list_flags)

    p = sub.add_parser("show", help="one flag in full")
    p.add_argument("name")
    add_output_options(p)
    p.set_defaults(func=show_flag)

    p = sub.add_parser(
        "eval", help="is the flag on, and which variant, for these keys? (same rule as agents)"
    )
    p.add_argument("name")
    p.add_argument("keys", nargs="+", metavar="KEY", help="user, tenant or agent id")
    p.add_argument(
        "--context",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="more of the context an agent gives (region=eu, model=gpt-4o ...; repeat)",
    )
    add_output_options(p)
    p.set_defaults(func=eval_flag)

    p = sub.add_parser("create", help="a new flag (admin)")
    p.add_argument("name")
    p.add_argument("--type", choices=FLAG_TYPES, default="release")
    p.add_argument("--enabled", action="store_true", help="create it switched on")
    p.add_argument("--rollout", default="100", help="percentage, in steps of 0.01 (default 100)")
    p.add_argument("--stickiness", choices=STICKINESS, default="user", help="bucketing key")
    p.add_argument("--group", default="", help="bucketing group (default: the flag name)")
    p.add_argument("--default", choices=("on", "off"), default="off", help="without a snapshot")
    p.add_argument("--description", default="")
    p.add_argument("--owner", default="", help="default: you")
    add_change_options(p)
    add_output_options(p)
    p.set_defaults(func=create_flag)

    for name in ("flag.enable", "flag.disable", "flag.rollout"):
        dispatch.add(sub, name)

    p = sub.add_parser("update", help="allow/deny lists, description, owner, default")
    p.add_argument("name")
    p.add_argument("--allow", help="comma-separated keys always on (replaces the list)")
    p.add_argument("--deny", help="comma-separated keys always off (replaces the list)")
    p.add_argument("--description")
    p.add_argument("--owner")
    p.add_argument("--default", choices=("on", "off"))
    p.add_argument("--stickiness", choices=STICKINESS)
    p.add_argument(
        "--tracked",
        choices=("on", "off"),
        help="agents count this flag's runs by variant (docs/metrics.md)",
    )
    _expect(p)
    add_change_options(p)
    add_output_options(p)
    p.set_defaults(func=update_flag)

    flag_values.register(sub, _expect)

    dispatch.add(sub, "flag.delete", help="remove a flag (admin; asks first)")

    # guarded rollout plans, next to the other flag commands (built in cli/rollouts.py)
    from agentconsole.cli.rollouts import VERBS, add_plan_parser

    add_plan_parser(sub, "plan")
    for name in VERBS:
        dispatch.add(sub, name, command=f"plan-{name.split('.')[-1]}")


def _expect(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--expect-version",
        type=int,
        metavar="N",
        help="change only if the flag is still at version N (else: conflict, exit 1)",
    )


def flag_dict(flag: Any) -> dict[str, Any]:
    doc = flag.to_doc()
    doc["rollout"] = flag.rollout
    return doc


def _variants(flag: Any) -> str:
    """``standard 90% cheap 10%`` (and ``+2 forced``), or ``-`` for a boolean flag."""
    if not flag.variants:
        return "-"
    total = flag.total_weight or 1
    shown = " ".join(f"{v.name} {v.weight * 100 / total:g}%" for v in flag.variants[:3])
    more = " …" if len(flag.variants) > 3 else ""
    forced = sum(len(o.values) for v in flag.variants for o in v.overrides)
    return shown + more + (f" +{forced} forced" if forced else "")


def _onoff(value: bool) -> str:
    return "on" if value else "off"


def _changed(args: argparse.Namespace, flag: Any, verb: str) -> None:
    emit(
        args,
        flag_dict(flag),
        lambda: (
            f"flag {clean(flag.name)} {verb}: {_onoff(flag.enabled)}, rollout "
            f"{flag.rollout}, version {flag.version}"
        ),
    )


async def list_flags(args: argparse.Namespace, ctx: Context) -> int:
    plane = await ctx.plane()
    flags, problems = await plane.flags.list()
    for problem in problems:
        print(f"agentconsole: warning: {clean(problem, 300)}", file=sys.stderr)

    def human() -> str:
        if not flags:
            return "no flags"
        rows = [
            (
                f.name,
                f.type,
                _onoff(f.enabled),
                f.rollout,
                f.stickiness,
                _onoff(f.default),
                _variants(f),
                f.version,
                f.changed_by,
                ago(f.changed_at),
            )
            for f in flags
        ]
        headers = (
            "name",
            "type",
            "state",
            "rollout",
            "sticky",
            "default",
            "variants",
            "ver",
            "by",
            "changed",
        )
        return table(headers, rows)

    emit(args, {"flags": [flag_dict(f) for f in flags], "problems": problems}, human)
    return EXIT_OK


async def show_flag(args: argparse.Namespace, ctx: Context) -> int:
    plane = await ctx.plane()
    flag = await plane.flags.get(args.name)

    def human() -> str:
        lines = [
            ("name", flag.name),
            ("type", flag.type),
            ("state", _onoff(flag.enabled)),
            ("rollout", f"{flag.rollout} by {flag.stickiness} (group {flag.group or flag.name})"),
            ("allow", ", ".join(flag.allow) or "-"),
            ("deny", ", ".join(flag.deny) or "-"),
            ("default", f"{_onoff(flag.default)} (for agents without a snapshot)"),
            ("description", flag.description or "-"),
            ("owner", flag.owner or "-"),
            ("version", flag.version),
            ("changed", f"{utc(flag.changed_at)} by {flag.changed_by or '-'}"),
            ("reason", flag.reason or "-"),
        ]
        if flag.variants or flag.value_type != "boolean":
            lines.append(("value type", flag.value_type))
        total = flag.total_weight or 1
        for v in flag.variants:
            forced = "; ".join(f"{o.context} = {', '.join(o.values)}" for o in v.overrides)
            share = f"{v.weight * 100 / total:g}%"
            text = f"{v.name}: weight {v.weight} ({share}), payload {_payload(v.payload)}"
            lines.append(("variant", text + (f", forced for {forced}" if forced else "")))
        for c in flag.constraints:
            lines.append(("constraint", c.summary()))
        if flag.plan:
            from agentconsole.control.errors import CorruptValue
            from agentconsole.control.rollout_ops import describe
            from agentconsole.control.rollouts import Plan

            try:
                lines.append(("plan", describe(flag.name, Plan.from_doc(flag.plan))))
            except CorruptValue as exc:
                lines.append(("plan", f"unreadable: {exc}"))
        if flag.tracked:
            lines.append(("tracked", "agents count its runs by variant"))
        return "\n".join(f"{k + ':':13} {clean(v, 200)}" for k, v in lines)

    emit(args, flag_dict(flag), human)
    return EXIT_OK


async def eval_flag(args: argparse.Namespace, ctx: Context) -> int:
    """Answers "is user X in the rollout, and which variant?" without guessing: the SDK's
    own evaluation (``Flag.resolve``), in the context an agent would give it."""
    from agentconsole.control.bucketing import position
    from agentconsole.control.flags import key_context

    try:
        extra = dict(_context_items(args.context))
    except ValueError as exc:
        return fail(str(exc), 2)
    plane = await ctx.plane()
    flag = await plane.flags.get(args.name)
    group = flag.group or flag.name
    results = []
    for key in args.keys:
        result = flag.resolve(key_context(flag, key, extra))
        why = {
            "disabled": "flag is off",
            "denied": "deny list",
            "allowed": "allow list",
            "unmatched": "a constraint does not hold",
            "static": "everyone",
            "targeted": "constraints hold",
        }.get(result.reason, "")
        if result.reason == "rollout":
            why = f"bucket {position(group, key) / 100:.2f}% vs rollout {flag.rollout}"
        if result.variant is not None:
            why += f"; variant by {'override' if result.overridden else 'weight'}"
        results.append(
            {
                "key": key,
                "on": result.on,
                "variant": result.variant,
                "payload": result.payload,
                "why": why,
            }
        )
    valued = bool(flag.variants)
    emit(
        args,
        {"flag": flag.name, "version": flag.version, "results": results},
        lambda: table(
            ("key", "result", "variant", "payload", "why") if valued else ("key", "result", "why"),
            [
                (r["key"], _onoff(r["on"]), r["variant"] or "-", _payload(r["payload"]), r["why"])
                if valued
                else (r["key"], _onoff(r["on"]), r["why"])
                for r in results
            ],
        ),
    )
    return EXIT_OK


def _context_items(items: list[str]) -> list[tuple[str, str]]:
    out = []
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise ValueError(f"--context looks like FIELD=VALUE, got {item!r}")
        out.append((name.strip(), value))
    return out


def _payload(value: Any) -> str:
    import json

    return "-" if value is None else json.dumps(value, ensure_ascii=False)


async def create_flag(args: argparse.Namespace, ctx: Context) -> int:
    plane = await ctx.plane()
    flag = await plane.flags.create(
        args.name,
        type=args.type,
        enabled=args.enabled,
        rollout=args.rollout,
        stickiness=args.stickiness,
        group=args.group,
        default=args.default == "on",
        description=args.description,
        owner=args.owner,
        reason=args.reason,
    )
    _changed(args, flag, "created")
    return EXIT_OK


def _keys(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


async def update_flag(args: argparse.Namespace, ctx: Context) -> int:
    changes: dict[str, Any] = {}
    if args.allow is not None:
        changes["allow"] = _keys(args.allow)
    if args.deny is not None:
        changes["deny"] = _keys(args.deny)
    for name in ("description", "owner", "stickiness"):
        if getattr(args, name) is not None:
            changes[name] = getattr(args, name)
    if args.default is not None:
        changes["default"] = args.default == "on"
    if args.tracked is not None:
        changes["tracked"] = args.tracked == "on"
    if not changes:
        return fail("nothing to update: give --allow, --deny, --description, ... (see --help)", 2)
    plane = await ctx.plane()
    flag = await plane.flags.update(
        args.name, reason=args.reason, expected_version=args.expect_version, **changes
    )
    _changed(args, flag, "updated")
    return EXIT_OK
