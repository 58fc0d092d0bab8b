"""The CLI's side of the operations table: a subcommand per row, and one way to run it.

A subcommand's name is the operation's last word (``breakers trip``, ``flags rollout``);
its arguments come from the row's parameters (required ones positional, keyword ones as
``--for``); values are parsed by the table (``agentconsole.text``), so they are accepted
and refused exactly as in the console and runbooks. ``agentconsole do WORDS...`` runs any
row written as on the console's ``:`` line.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping
from typing import Any

from agentconsole.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    Context,
    add_change_options,
    add_output_options,
    clean,
    confirm,
    emit,
    fail,
)
from agentconsole.control import operations as ops
from agentconsole.control.errors import InvalidValue


def add(
    sub: Any, name: str, *, help: str | None = None, command: str | None = None
) -> argparse.ArgumentParser:
    """Add the subcommand for operation ``name`` to ``sub`` (called ``command``, by default
    the operation's last word); returns its parser."""
    op = ops.get(name)
    p = sub.add_parser(command or op.words[-1], help=_literal(help or op.summary))
    for param in op.params:
        metavar, text = param.kind.label, _literal(param.help)
        if param.switch:
            p.add_argument(
                f"--{param.keyword}", dest=param.name, action="store_const", const="on", help=text
            )
        elif param.keyword:
            p.add_argument(f"--{param.keyword}", dest=param.name, metavar=metavar, help=text)
        elif param.many:
            p.add_argument(param.name, nargs="+", metavar=metavar, help=text)
        else:
            nargs = "?" if param.optional else None
            p.add_argument(param.name, nargs=nargs, metavar=metavar, help=text)
    add_options(p, op)
    p.set_defaults(func=lambda args, ctx: run(args, ctx, op, _raw(args, op)), operations=(name,))
    return p


def _literal(text: str) -> str:
    """argparse formats help with %: a table's "0 %" must not break every --help."""
    return text.replace("%", "%%")


def add_options(p: argparse.ArgumentParser, op: ops.Operation) -> None:
    if op.versioned:
        p.add_argument(
            "--expect-version",
            type=int,
            metavar="N",
            help="change only if it is still at version N (else: conflict, exit 1)",
        )
    if op.words[0] in ("kill", "pause") and op.words[-1] != "lift":
        p.add_argument(
            "--wait",
            type=float,
            default=2.0,
            metavar="SECONDS",
            help="how long to wait for agents to acknowledge (default 2; 0: do not wait)",
        )
    add_change_options(p, destructive=op.destructive or op.preview_fn is not None)
    add_output_options(p)


def _raw(args: argparse.Namespace, op: ops.Operation) -> dict[str, Any]:
    return {p.name: getattr(args, p.name, None) for p in op.params}


async def run(
    args: argparse.Namespace,
    ctx: Context,
    op: ops.Operation,
    raw: Mapping[str, Any],
    human: Callable[[ops.Outcome], str] | None = None,
) -> int:
    """Parse, check the role, confirm what is destructive (naming targets and count), run,
    and print the outcome: what really happened (``human`` renders it at length, e.g. an
    import's plan; exit 1 when the outcome says it was not done)."""
    try:
        call = op.call(
            raw,
            reason=getattr(args, "reason", "") or "",
            wait=getattr(args, "wait", 2.0),
            expected_version=getattr(args, "expect_version", None),
            override=getattr(args, "emergency_override", False),
        )
    except InvalidValue as exc:
        return fail(str(exc), EXIT_USAGE)
    plane = await ctx.plane()
    plane.operator.require(op.permission)  # refuse before asking, not after
    if not getattr(args, "yes", False) and (op.destructive or op.preview_fn is not None):
        preview = await op.preview(plane, call)  # the count is for the human deciding
        if preview.confirm:
            question = clean(preview.title, 200)
            if preview.detail:
                question += f" ({clean(preview.detail, 200)})"
            if not confirm(args, f"{question} Go ahead?"):
                return EXIT_FAILED  # confirm() said why
    outcome = await op.run(plane, call)
    emit(args, outcome.data, lambda: human(outcome) if human else clean(outcome.text, 2000))
    return EXIT_FAILED if outcome.failed else EXIT_OK


def register(subparsers: Any) -> None:
    """``agentconsole do WORDS...``: any operation, written as on the console's ``:`` line."""
    p = subparsers.add_parser(
        "do",
        help="run any operation as written on the console's : line (kill tenant 'Acme Corp')",
        description="Operations: " + "; ".join(op.usage for op in ops.OPERATIONS),
    )
    p.add_argument("--reason", default="", help="why (recorded in the audit log)")
    p.add_argument("--yes", "-y", action="store_true", help="do not ask")
    p.add_argument("--wait", type=float, default=2.0, metavar="SECONDS", help="kill acks")
    p.add_argument("--expect-version", type=int, metavar="N", help="compare-and-set")
    p.add_argument(
        "--emergency-override",
        action="store_true",
        help="run an operation that needs a second operator now (loud, audited as such)",
    )
    add_output_options(p)
    p.add_argument("words", nargs=argparse.REMAINDER, metavar="OPERATION ...")
    p.set_defaults(func=do)


async def do(args: argparse.Namespace, ctx: Context) -> int:
    """Words as the shell split them, or one quoted line: ``do 'kill tenant "Acme Corp"'``."""
    words = list(args.words)
    if len(words) == 1 and words[0].strip() != words[0].split(maxsplit=1)[0]:
        import shlex

        try:
            words = shlex.split(words[0])
        except ValueError as exc:
            return fail(f"cannot read {clean(args.words[0], 60)!r}: {exc}", EXIT_USAGE)
    args.words = words
    found = ops.match(args.words)
    if found is None:
        shown = clean(" ".join(args.words[:2]), 40)
        return fail(f"unknown operation {shown!r} (known: {', '.join(ops.VERBS)})", EXIT_USAGE)
    op, n = found
    try:
        raw = ops.bind(op, args.words[n:], lambda w: w)
    except InvalidValue as exc:
        return fail(str(exc), EXIT_USAGE)
    return await run(args, ctx, op, raw)
