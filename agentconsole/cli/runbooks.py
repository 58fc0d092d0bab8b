"""`agentconsole runbooks lint|list|show`: check and read the runbook library.

`lint` needs neither Redis nor Prometheus, so it runs in CI: every problem is printed as
``file:line: message`` and the exit code is non-zero when there is any.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from agentconsole.cli.common import EXIT_FAILED, EXIT_OK, EXIT_USAGE, Context, emit, fail, table


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("runbooks", help="lint, list and read runbooks")
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    p = sub.add_parser("lint", help="check runbooks (file:line for every problem)")
    p.add_argument("paths", nargs="*", metavar="PATH", help="files or directories (runbooks/)")
    group = p.add_mutually_exclusive_group()
    group.add_argument(
        "--alerts", metavar="FILE", help="alert rules to cross-check (deploy/prometheus/alerts.yml)"
    )
    group.add_argument("--no-alerts", action="store_true", help="skip the cross-check")
    p.add_argument(
        "--no-promql", action="store_true", help="skip the PromQL syntax check (promtool)"
    )
    _json(p)
    p.set_defaults(func=lint_cmd)

    p = sub.add_parser("list", help="the runbooks and the alerts they serve")
    _json(p)
    p.set_defaults(func=list_cmd)

    p = sub.add_parser("show", help="a runbook's steps, rendered for an alert's labels")
    p.add_argument("id", help="runbook id")
    p.add_argument("--label", action="append", default=[], metavar="K=V", help="alert label")
    _json(p)
    p.set_defaults(func=show_cmd)


def _json(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--json", action="store_true", default=argparse.SUPPRESS, help="machine-readable output"
    )


def _library(ctx: Context, paths: list[str] | None = None) -> Any:
    from agentconsole.runbook.library import Library

    return Library.load(paths or [ctx.settings.runbooks_dir])


async def lint_cmd(args: argparse.Namespace, ctx: Context) -> int:
    from agentconsole.runbook.lint import lint
    from agentconsole.runbook.rules import DEFAULT_ALERTS

    paths = args.paths or [ctx.settings.runbooks_dir]
    alerts: Path | None = None
    if args.alerts:
        alerts = Path(args.alerts)
    elif not args.no_alerts:
        if DEFAULT_ALERTS.is_file():
            alerts = DEFAULT_ALERTS
        else:
            print(f"note: {DEFAULT_ALERTS} not found: alert cross-check skipped", file=sys.stderr)
    check_promql = not args.no_promql
    if check_promql:
        from agentconsole.runbook.promql_check import promtool

        if promtool() is None:
            print("note: promtool not found: PromQL syntax check skipped", file=sys.stderr)
            check_promql = False
    library, problems = lint(paths, alerts, promql=check_promql)
    data = {
        "runbooks": sorted(library.runbooks),
        "alerts_file": str(alerts) if alerts else None,
        "problems": [{"path": p.path, "line": p.line, "message": p.message} for p in problems],
    }

    def human() -> str:
        lines = [str(p) for p in problems]
        checked = f"{len(library.runbooks)} runbook(s)" + (f", {alerts}" if alerts else "")
        lines.append(f"{checked}: {len(problems) or 'no'} problem(s)")
        return "\n".join(lines)

    emit(args, data, human)
    return EXIT_FAILED if problems else EXIT_OK


async def list_cmd(args: argparse.Namespace, ctx: Context) -> int:
    library = _library(ctx)
    for problem in library.problems:
        print(f"warning: {problem}", file=sys.stderr)
    books = library.all()
    headers = ("id", "title", "alerts", "severity", "steps")
    rows = [(r.id, r.title, ", ".join(r.alerts), r.severity, len(r.steps)) for r in books]
    data = [
        {
            "id": r.id,
            "title": r.title,
            "alerts": r.alerts,
            "severity": r.severity,
            "steps": len(r.steps),
        }
        for r in books
    ]
    emit(
        args,
        {"runbooks": data},
        lambda: table(headers, rows) if rows else f"no runbooks in {ctx.settings.runbooks_dir}",
    )
    return EXIT_OK


async def show_cmd(args: argparse.Namespace, ctx: Context) -> int:
    from agentconsole.runbook.actions import ActionError, parse_line, render
    from agentconsole.runbook.template import Values, display, render_promql, render_text

    runbook = _library(ctx).get(args.id)
    if runbook is None:
        return fail(f"no runbook {args.id!r} in {ctx.settings.runbooks_dir}")
    labels: dict[str, str] = {}
    for item in args.label:
        key, sep, value = item.partition("=")
        if not sep or not key:
            return fail(f"--label needs K=V, got {item!r}", EXIT_USAGE)
        labels[key] = value
    values = Values(runbook.alerts[0] if runbook.alerts else "", labels=labels)
    steps = []
    for step in runbook.steps:
        items = []
        for block in step.blocks:
            if block.kind == "action":
                for line, source in block.numbered():
                    try:
                        items.append(("action", render(parse_line(source, line), values).text))
                    except ActionError as exc:
                        items.append(("action", f"{display(source)}  [{exc}]"))
            elif block.kind == "promql":
                try:
                    items.append(("promql", render_promql(block.body, values)))
                except ValueError as exc:
                    items.append(("promql", f"{display(block.body, 400)}  [{exc}]"))
            elif block.kind == "verify":
                items.append(("verify", block.body.strip() or "(the alert's own expression)"))
            else:
                items.append((block.kind, render_text(block.body, values)))
        steps.append({"index": step.index, "title": step.title, "items": items})

    def human() -> str:
        out = [f"{runbook.id}: {runbook.title} (alerts: {', '.join(runbook.alerts)})"]
        for step in steps:
            out.append(f"\n{step['index']}. {step['title']}")
            for kind, text in step["items"]:
                prefix = {"action": "  $ ", "promql": "  ? ", "verify": "  ✓ "}.get(kind, "  ")
                out += [prefix + line for line in str(text).split("\n")]
        return "\n".join(out)

    emit(args, {"id": runbook.id, "steps": steps}, human)
    return EXIT_OK
