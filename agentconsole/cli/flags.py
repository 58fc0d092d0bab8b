"""`agentconsole flags ...`: list, show and change feature flags through the control plane."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from agentconsole.cli import dispatch, flag_values
from agentconsole.cli.common import (
    EXIT_OK,
    Context,
    add_output_options,
    ago,
    clean,
    emit,
    fail,
    table,
    utc,
)


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

    for name in ("flag.create", "flag.enable", "flag.disable", "flag.rollout", "flag.update"):
        dispatch.add(sub, name)

    flag_values.register(sub, _expect)

    dispatch.add(sub, "flag.delete", help="remove a flag (admin; asks first)")
    dispatch.add(sub, "tenant.move", command="move", help="move a tenant to a variant (asks first)")

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
