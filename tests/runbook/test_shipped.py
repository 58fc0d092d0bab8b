"""The shipped runbooks: lint clean, cross-checked with the shipped alert rules, and every
alert opens a runbook whose steps render for that alert (CI guard for the format)."""

from pathlib import Path

import pytest

from agentconsole.runbook.context import AlertContext
from agentconsole.runbook.library import Library
from agentconsole.runbook.lint import lint
from agentconsole.runbook.rules import load_rules
from agentconsole.runbook.session import verify_query
from tests.fixtures.alerts import ALERT_RUNBOOKS

ROOT = Path(__file__).resolve().parents[2]
RUNBOOKS = ROOT / "runbooks"
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"
SAMPLE_LABELS = {
    "dependency": "openai",
    "tenant": "acme",
    "limit": "user_daily_tokens",
    "kind": "tenant_stop",
    "instance": "10.0.0.7:9400",
    "flag": "planner-v2",
}


def test_shipped_runbooks_lint_clean_without_rules():
    from tests.fixtures.procs import require_binary

    require_binary("promtool")  # every shipped query must parse
    library, problems = lint([RUNBOOKS], promql=True)
    assert [str(p) for p in problems] == []
    assert set(library.runbooks) == set(ALERT_RUNBOOKS.values())


def test_shipped_runbooks_cross_check_with_shipped_alert_rules():
    if not ALERTS.is_file():
        pytest.fail(f"{ALERTS} is missing: the alert rules ship with the repository")
    _, problems = lint([RUNBOOKS], ALERTS)
    assert [str(p) for p in problems] == []


def test_every_shipped_alert_opens_its_runbook_and_renders():
    from agentconsole.runbook.actions import ActionError, NeedsInput, parse_line, render
    from agentconsole.runbook.template import render_promql, required

    rules, problems = load_rules(ALERTS)
    assert problems == []
    assert {r.name for r in rules} == set(ALERT_RUNBOOKS)
    library = Library.load([RUNBOOKS])
    for rule in rules:
        labels = {"alertname": rule.name, **rule.labels}
        for name, value in SAMPLE_LABELS.items():  # the labels this alert really carries
            if f"$labels.{name}" in str(rule.annotations) or f"by ({name})" in rule.expr:
                labels[name] = value
        alert = AlertContext(rule.name, labels, dict(rule.annotations))
        runbook = library.for_alert(alert)
        assert runbook is not None and runbook.id == ALERT_RUNBOOKS[rule.name], rule.name
        values = alert.values()
        assert any(step.is_verify for step in runbook.steps)
        assert verify_query(rule.expr, alert, rule).startswith("count((")
        for step in runbook.steps:
            for block in step.of_kind("promql"):
                if not required(block.body, values):  # every value it needs is there
                    render_promql(block.body, values)
            for block in step.of_kind("action"):
                for number, line in block.numbered():
                    spec = parse_line(line, number)
                    try:
                        render(spec, values)
                    except NeedsInput:
                        pass  # the console asks the operator
                    except ActionError as exc:
                        # only a label this alert does not carry may be missing
                        assert "does not have" in str(exc), (runbook.id, number, str(exc))
