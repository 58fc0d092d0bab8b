"""Alert parsing, identity, Alertmanager matcher semantics: no server needed."""

from __future__ import annotations

from datetime import UTC, datetime

from agentconsole.config import Settings
from agentconsole.metrics.alerts import identity, join_alertmanager, matches, to_alert
from agentconsole.metrics.service import MetricsService

RAW = {
    "labels": {"alertname": "DependencyBreakerOpen", "severity": "warning", "dependency": "llm"},
    "annotations": {
        "summary": "Circuit breaker for llm is open\x1b[2J",
        "description": "line one\nline two\x07",
        "runbook": " provider-outage ",
    },
    "state": "firing",
    "activeAt": "2026-11-27T10:00:00.123456789Z",
    "value": "2e+00",
}


def test_alert_from_prometheus_is_data_only() -> None:
    alert = to_alert(RAW)
    assert alert.name == "DependencyBreakerOpen" and alert.severity == "warning"
    assert alert.runbook == "provider-outage"
    assert "\x1b" not in alert.annotations["summary"]
    assert alert.annotations["description"] == "line one\nline two?"  # newline kept
    expected = datetime(2026, 11, 27, 10, 0, 0, 123456, tzinfo=UTC).timestamp()
    assert alert.active_at == expected  # nanoseconds: truncated to microseconds
    assert alert.age(alert.active_at + 90) == 90


def test_alert_without_runbook_or_time() -> None:
    alert = to_alert({"labels": {"alertname": "X"}, "state": "pending", "activeAt": ""})
    assert alert.runbook is None and alert.active_at is None and alert.age(0) is None


def test_identity_is_stable_and_label_sensitive() -> None:
    a = identity("A", {"x": "1", "y": "2"})
    assert a == identity("A", {"y": "2", "x": "1"})
    assert a != identity("A", {"x": "1", "y": "3"})


def test_alertmanager_matchers() -> None:
    labels = {"alertname": "A", "dependency": "llm-eu"}
    eq = {"name": "dependency", "value": "llm-eu", "isRegex": False, "isEqual": True}
    ne = {**eq, "isEqual": False}
    rx = {"name": "dependency", "value": "llm-.*", "isRegex": True, "isEqual": True}
    partial = {**rx, "value": "llm"}  # regexes are anchored
    assert matches([eq], labels) and not matches([ne], labels)
    assert matches([rx], labels) and not matches([partial], labels)
    assert matches([{"name": "missing", "value": "", "isRegex": False}], labels)
    assert not matches([{**rx, "value": "("}], labels)  # a broken regex matches nothing


def test_join_marks_silenced_and_inhibited() -> None:
    alert = to_alert(RAW)
    silence = {
        "id": "s1",
        "matchers": [{"name": "alertname", "value": "DependencyBreakerOpen", "isRegex": False}],
    }
    am = {
        "labels": {**RAW["labels"], "cluster": "eu"},  # external labels added by Prometheus
        "fingerprint": "abc",
        "status": {"state": "suppressed", "inhibitedBy": ["f2"], "silencedBy": ["s1"]},
    }
    join_alertmanager([alert], [silence], [am])
    assert alert.silenced and alert.silence_ids == ["s1"]
    assert alert.inhibited and alert.fingerprint == "abc"


async def test_bad_panel_config_is_one_result_not_an_exception() -> None:
    settings = Settings()
    settings.panels = [{"id": "x", "query": "up", "unit": "furlongs"}]
    svc = MetricsService(settings)
    try:
        results = await svc.fetch_panels()
    finally:
        await svc.close()
    assert len(results) == 1 and results[0].panel.id == "config"
    assert results[0].error_kind == "error" and "unit" in results[0].error
