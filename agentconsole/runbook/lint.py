"""Checks that make a runbook safe to work at 3 a.m.: every problem with file:line.

Covers the front matter, the step structure, every template variable, every action line,
and the cross-check against the alert rules (every alert has a runbook, every runbook's
alerts exist).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from agentconsole.runbook import template
from agentconsole.runbook.actions import ActionError, parse_line
from agentconsole.runbook.library import Library
from agentconsole.runbook.model import Block, Problem, Runbook
from agentconsole.runbook.rules import AlertRule, load_rules


def lint_runbook(runbook: Runbook) -> list[Problem]:
    where = runbook.source
    problems: list[Problem] = []
    if not runbook.steps:
        problems.append(Problem(where, 1, "missing step: add at least one '## ' section"))
    for block in runbook.preamble:
        problems += _templates(where, block)
    for step in runbook.steps:
        if not step.blocks:
            problems.append(Problem(where, step.line, f"step {step.title!r} is empty"))
        for block in step.blocks:
            problems += _templates(where, block)
            if block.kind == "promql" and not block.numbered():
                problems.append(Problem(where, block.line - 1, "empty promql block"))
            if block.kind == "action":
                if not block.numbered():
                    problems.append(Problem(where, block.line - 1, "empty action block"))
                for number, line in block.numbered():
                    try:
                        parse_line(line, number)
                    except ActionError as exc:
                        problems.append(Problem(where, number, str(exc)))
    if any(s.has_actions for s in runbook.steps) and not any(s.is_verify for s in runbook.steps):
        problems.append(
            Problem(
                where,
                runbook.steps[-1].line,
                "missing step: a runbook with actions needs a verify step (a ```verify block)",
            )
        )
    return problems


def _templates(where: str, block: Block) -> list[Problem]:
    if block.kind == "action":
        return []  # parse_line reports template problems with the action's own message
    return [
        Problem(where, block.line + offset, template.unknown_message(expr))
        for offset, expr, var in template.find(block.body)
        if var is None
    ]


def cross_check(library: Library, rules: list[AlertRule], source: str) -> list[Problem]:
    problems: list[Problem] = []
    names = {r.name for r in rules}
    for rule in rules:
        named = rule.runbook
        listing = [rb for rb in library.all() if rule.name in rb.alerts]
        if named:
            runbook = library.get(named)
            if runbook is None:
                problems.append(
                    Problem(
                        rule.path,
                        rule.line,
                        f"alert {rule.name} names runbook {named!r}, which does not exist",
                    )
                )
            elif rule.name not in runbook.alerts:
                problems.append(
                    Problem(
                        runbook.source,
                        runbook.meta_lines.get("alerts", 1),
                        f"alert {rule.name} points at this runbook; list it in alerts",
                    )
                )
        elif not listing:
            problems.append(Problem(rule.path, rule.line, f"alert {rule.name} has no runbook"))
    for runbook in library.all():
        for name in runbook.alerts:
            if name not in names:
                problems.append(
                    Problem(
                        runbook.source,
                        runbook.meta_lines.get("alerts", 1),
                        f"alert {name!r} is not defined in {source}",
                    )
                )
    return problems


def lint(
    paths: Iterable[str | Path],
    alerts: str | Path | None = None,
    *,
    promql: bool = False,
) -> tuple[Library, list[Problem]]:
    """Lint runbook files/dirs; with ``alerts`` (a rules file), cross-check it too; with
    ``promql``, check every query's syntax with promtool (skipped if not installed)."""
    library = Library.load(paths)
    problems = list(library.problems)
    for runbook in library.all():
        problems += lint_runbook(runbook)
    if promql:
        from agentconsole.runbook import promql_check

        queries = [q for rb in library.all() for q in promql_check.runbook_queries(rb)]
        problems += promql_check.check(queries) or []
    if alerts is not None:
        rules, rule_problems = load_rules(alerts)
        problems += rule_problems
        if rules or not rule_problems:
            problems += cross_check(library, rules, str(alerts))
    problems.sort(key=lambda p: (p.path, p.line))
    return library, problems
