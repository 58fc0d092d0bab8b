"""A runbook worked against a real Prometheus (and Alertmanager): live queries in a step,
the verify step re-running the alert's own expression, and a silence action."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from agentconsole.metrics.service import MetricsService
from agentconsole.runbook.context import AlertContext
from agentconsole.runbook.library import Library
from agentconsole.runbook.session import RunbookSession, load_rules_index

ROOT = Path(__file__).resolve().parents[2]


async def firing(metrics: MetricsService, name: str, timeout: float = 15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for alert in (await metrics.alerts()).alerts:
            if alert.name == name and alert.state == "firing" and alert.fingerprint:
                return alert
        await asyncio.sleep(0.2)
    raise AssertionError(f"{name} did not fire within {timeout} s")


def session_for(plane, metrics, alert) -> RunbookSession:
    context = AlertContext.from_alert(alert)
    runbook = Library.load([ROOT / "runbooks"]).for_alert(context)
    assert runbook is not None
    rules = load_rules_index(ROOT / "deploy" / "prometheus" / "alerts.yml")
    return RunbookSession(plane, runbook, context, metrics, rules)


def step_named(session: RunbookSession, title: str):
    return next(s for s in session.runbook.steps if s.title == title)


async def test_live_queries_and_verify_for_a_firing_alert(plane, alerting_metrics):
    # the exporter's llm breaker is open
    alert = await firing(alerting_metrics, "DependencyBreakerOpen")
    session = session_for(plane, alerting_metrics, alert)
    assert session.runbook.id == "provider-outage"

    diagnosis = step_named(session, "Diagnosis")
    deadline = time.monotonic() + 10
    while True:  # rate() needs two scrapes; the alert can fire after the first one
        outcomes = await session.queries(diagnosis)
        if outcomes[0].by_label or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.2)
    by_outcome = outcomes[0]
    assert (
        by_outcome.comment == "calls per second to this dependency, by outcome "
        "(success, error, rejected)"
    )
    assert by_outcome.promql.startswith(
        'sum by (outcome) (rate(agent_dependency_calls_total{dependency="llm"}[5m]))'
    )
    assert by_outcome.error is None
    assert set(by_outcome.by_label) == {
        '{outcome="success"}',
        '{outcome="error"}',
        '{outcome="rejected"}',
    }
    # rate() over [5m] of a few seconds of data is small but present (live, not canned)
    assert by_outcome.by_label['{outcome="success"}'] > 0

    verify = step_named(session, "Verify")
    expr, _ = await session.alert_expr()
    assert expr == "dependency:agent_breaker_state:max == 2"  # from Prometheus' rules API
    verdict = await session.verify(verify)
    assert verdict.holds is True, verdict
    assert verdict.promql == (
        "count((dependency:agent_breaker_state:max == 2) and on(dependency) "
        'label_replace(vector(1), "dependency", "llm", "", ""))'
    )

    # The same alert for a healthy dependency, and one whose label tries to inject PromQL:
    for dep in ("search", 'llm"}) or vector(1) or (x{a="'):
        labels = {**alert.labels, "dependency": dep}
        other = session_for(plane, alerting_metrics, {**alert.__dict__, "labels": labels})
        verdict = await other.verify(verify)
        assert verdict.holds is False, (dep, verdict)


async def test_silence_action_goes_through_alertmanager_and_is_audited(plane, alerting_metrics):
    alert = await firing(alerting_metrics, "DependencyBreakerOpen")
    session = session_for(plane, alerting_metrics, alert)
    await session.start()
    from agentconsole.runbook.session import PreparedAction

    item = session.prepare(PreparedAction(2, 0, "silence create for 1h"))
    assert item.rendered is not None and item.rendered.text == "silence create for 1h"
    result = await session.run(item)
    assert result.message.startswith("alert silenced for 1h (silence ")
    incident = await session.refresh()
    assert incident.actions[-1].text == "silence create for 1h" and incident.actions[-1].ok
    entries = await plane.audit.tail(10)
    assert any(e.action == "silence.create" for e in entries)


async def test_without_prometheus_the_step_says_so(plane):
    alert = {
        "name": "AgentHighP99Latency",
        "labels": {"severity": "warning"},
        "annotations": {"runbook": "high-latency"},
    }
    session = session_for(plane, None, alert)
    outcomes = await session.queries(step_named(session, "Diagnosis"))
    assert outcomes and all("Prometheus not configured" in o.summary() for o in outcomes)
    verdict = await session.verify(step_named(session, "Verify"))
    assert verdict.holds is None and "Prometheus not configured" in verdict.message
