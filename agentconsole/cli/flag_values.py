"""`agentconsole flags ...` for valued flags: variants, weights, payloads, overrides,
constraints, and `export` / `import` of flags as YAML. No logic of its own: each change is
a row of the operations table (weights and payload are built from theirs; variants,
override and constrain keep their own spelling - ``--payload``, ``--clear`` - and run the
rows through ``dispatch.run``); the control plane checks, writes and audits."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from agentconsole.cli import dispatch
from agentconsole.cli.common import (
    EXIT_OK,
    Context,
    add_change_options,
    add_output_options,
    clean,
    fail,
    table,
    utc,
)


def register(sub: Any, expect: Any) -> None:
    """Add the subcommands to the ``flags`` parser (``expect`` adds --expect-version)."""
    p = sub.add_parser("variants", help="set a flag's variants (replaces the list)")
    p.add_argument("name")
    p.add_argument(
        "variants", nargs="+", metavar="VARIANT=WEIGHT", help="e.g. standard=100 cheap=0"
    )
    p.add_argument("--value-type", choices=("boolean", "string", "number", "json"))
    p.add_argument(
        "--payload",
        action="append",
        default=[],
        metavar="VARIANT=VALUE",
        help="payload of a variant, typed by the flag's value type (repeat)",
    )
    p.add_argument("--variant-stickiness", choices=("user", "tenant", "agent"))
    _change(p, expect)
    p.set_defaults(func=set_variants, operations=("flag.variants",))

    dispatch.add(sub, "flag.weights")
    dispatch.add(sub, "flag.payload")

    p = sub.add_parser(
        "override",
        help="force one tenant/user/agent to a variant: override FLAG tenant globex cheap",
    )
    p.add_argument("name")
    p.add_argument("context", help="context field: tenant, user, agent or a custom one")
    p.add_argument("value", help="its value (quote it if it has spaces)")
    p.add_argument("variant", nargs="?", help="the variant to serve (omit with --clear)")
    p.add_argument("--clear", action="store_true", help="remove the override: back to the weights")
    _change(p, expect)
    p.set_defaults(func=set_override, operations=("flag.override", "flag.override_clear"))

    p = sub.add_parser(
        "constrain", help="set a flag's constraints (replaces them): 'region IN eu,us' ..."
    )
    p.add_argument("name")
    p.add_argument("constraints", nargs="*", metavar="'FIELD [NOT] OP VALUES'")
    p.add_argument("--clear", action="store_true", help="remove every constraint")
    _change(p, expect)
    p.set_defaults(func=set_constraints, operations=("flag.constrain", "flag.unconstrain"))

    p = sub.add_parser("export", help="flags as YAML (to keep in git)")
    p.add_argument("names", nargs="*", metavar="NAME", help="only these flags (default: all)")
    p.add_argument("-o", "--output", help="write to this file instead of stdout")
    p.set_defaults(func=export_flags)

    p = dispatch.add(sub, "flag.import", command="import")
    p.set_defaults(func=import_flags)  # "-": the file from stdin


def _change(parser: argparse.ArgumentParser, expect: Any) -> None:
    expect(parser)
    add_change_options(parser)
    add_output_options(parser)


def _pairs(items: list[str], what: str) -> dict[str, str]:
    """NAME=VALUE items; a ValueError says what is wrong (the caller exits 2 with it)."""
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise ValueError(f"{what} look like NAME=VALUE, got {item!r}")
        out[name.strip()] = value
    return out


def _weights(items: list[str]) -> dict[str, int]:
    from agentconsole.control.flag_edits import parse_weights

    return parse_weights(",".join(items))


async def set_variants(args: argparse.Namespace, ctx: Context) -> int:
    from agentconsole.control.errors import InvalidValue

    try:
        weights = _weights(args.variants)
        payloads = _pairs(args.payload, "payloads")
    except ValueError as exc:
        return fail(str(exc), 2)
    unknown = set(payloads) - set(weights)
    if unknown:
        raise InvalidValue(f"--payload for variant(s) not listed: {', '.join(sorted(unknown))}")
    specs = [
        f"{name}={weight}" + (f":{payloads[name]}" if name in payloads else "")
        for name, weight in weights.items()
    ]
    raw = {
        "flag": args.name,
        "variants": specs,
        "type": args.value_type,
        "sticky": args.variant_stickiness,
    }
    return await _dispatch(args, ctx, "flag.variants", raw)


async def _dispatch(args: argparse.Namespace, ctx: Context, name: str, raw: dict[str, Any]) -> int:
    """Run a row of the operations table (its grammar parses ``raw``) as every subcommand
    built from the table does (``cli/dispatch.py``)."""
    from agentconsole.control import operations as ops

    return await dispatch.run(args, ctx, ops.get(name), raw)


async def set_override(args: argparse.Namespace, ctx: Context) -> int:
    if args.clear == (args.variant is not None):
        return fail("give the VARIANT to serve, or --clear to remove the override", 2)
    raw = {"flag": args.name, "context": args.context, "value": args.value}
    if args.clear:
        return await _dispatch(args, ctx, "flag.override_clear", raw)
    return await _dispatch(args, ctx, "flag.override", raw | {"variant": args.variant})


async def set_constraints(args: argparse.Namespace, ctx: Context) -> int:
    if args.clear == bool(args.constraints):
        return fail("give the constraints ('region IN eu,us' ...), or --clear", 2)
    if args.constraints:
        raw = {"flag": args.name, "constraints": args.constraints}
        return await _dispatch(args, ctx, "flag.constrain", raw)
    return await _dispatch(args, ctx, "flag.unconstrain", {"flag": args.name})


async def export_flags(args: argparse.Namespace, ctx: Context) -> int:
    import time

    from agentconsole.control.flag_files import export

    plane = await ctx.plane()
    flags, problems = await plane.flags.list()
    for problem in problems:
        print(f"agentconsole: warning: not exported: {clean(problem, 300)}", file=sys.stderr)
    if args.names:
        missing = sorted(set(args.names) - {f.name for f in flags})
        if missing:
            return fail(f"no flag named {', '.join(map(repr, missing))}")
        flags = [f for f in flags if f.name in args.names]
    header = (
        f"agentconsole flags, exported {utc(time.time())} from prefix "
        f"{plane.keys.prefix!r} by {plane.operator.name}; import with `agentconsole flags import`"
    )
    text = export(flags, header=header)
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
        print(f"exported {len(flags)} flag(s) to {clean(args.output, 200)}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return EXIT_OK


async def import_flags(args: argparse.Namespace, ctx: Context) -> int:
    """The table's ``flag.import``, with the plan printed at length (and ``-`` for stdin)."""
    import tempfile

    from agentconsole.control import operations as ops

    raw = {"file": args.file, "dry_run": args.dry_run, "force": args.force, "prune": args.prune}
    if args.file != "-":
        return await dispatch.run(args, ctx, ops.get("flag.import"), raw, _plan_text)
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", encoding="utf-8") as copy:
        copy.write(sys.stdin.read())
        copy.flush()
        return await dispatch.run(
            args, ctx, ops.get("flag.import"), raw | {"file": copy.name}, _plan_text
        )


def _plan_text(outcome: Any) -> str:
    """Each flag's plan (what changes), the counts, then the verdict."""
    out = []
    for s in outcome.data["steps"]:
        head = f"{s['kind']:9} {clean(s['flag'])}"
        if (s["outcome"] or "").startswith("not imported"):
            head += f"  ({clean(s['outcome'], 200)})"
        out.append(head)
        if s["kind"] != "unchanged":
            out += [f"          {clean(line, 200)}" for line in s["changes"]]
    counts = outcome.data["counts"]
    return "\n".join(
        [*out, "", table(list(counts), [list(counts.values())]), clean(outcome.text, 300)]
    )
