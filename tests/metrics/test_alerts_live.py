"""Alerts from a real Prometheus, silences in a real Alertmanager, audited in the control plane."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from agentconsole.control.errors import InvalidValue, NotFound, PermissionDenied
from agentconsole.metrics.service import MetricsService


async def until(check, timeout: float = 15.0, what: str = "condition"):
    """Await ``check()`` until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not true within {timeout} s")
        await asyncio.sleep(0.2)


async def breaker_alert(svc: MetricsService, *, in_alertmanager: bool = True):
    async def check():
        result = await svc.alerts()
        for alert in result.alerts:
            firing = alert.name == "DependencyBreakerOpen" and alert.state == "firing"
            if firing and (alert.fingerprint or not in_alertmanager):
                return alert
        return None

    return await until(check, what="DependencyBreakerOpen firing")


async def am_silences(am_url: str) -> list[dict]:
    async with httpx.AsyncClient() as client:
        silences = (await client.get(f"{am_url}/api/v2/silences")).json()
    return [s for s in silences if s["status"]["state"] == "active"]


async def test_alert_fires_with_its_runbook_annotation(alerting_metrics) -> None:
    alert = await breaker_alert(alerting_metrics, in_alertmanager=False)
    assert alert.runbook == "provider-outage"
    assert alert.labels["dependency"] == "llm"
    assert alert.severity == "warning"
    assert alert.annotations["summary"] == "Circuit breaker for llm is open"
    assert alert.annotations["runbook_url"].endswith("/provider-outage")
    assert alert.active_at is not None and alert.age(time.time()) >= 0
    assert alert.identity.startswith("DependencyBreakerOpen:")
    assert not alert.silenced

    async def error_rate_alert():
        result = await alerting_metrics.alerts()
        names = {a.name for a in result.alerts}
        return result if "AgentErrorRateHigh" in names else None

    result = await until(error_rate_alert, what="AgentErrorRateHigh")  # 1.5% errors
    assert "AgentHighP99Latency" not in {a.name for a in result.alerts}  # p99 is 4 s
    assert result.error_kind is None and result.alertmanager_error is None


async def test_silence_create_and_expire_are_audited(alerting_metrics, plane, alertmanager) -> None:
    alert = await breaker_alert(alerting_metrics)
    silence_id = await alerting_metrics.silence(alert, 600, "llm provider outage, ticket OPS-1")

    silenced = await until(
        lambda: _find(alerting_metrics, alert.identity, silenced=True), what="alert silenced"
    )
    assert silence_id in silenced.silence_ids
    entry = (await plane.audit.tail(1))[0]
    assert (entry.action, entry.actor, entry.target) == ("silence.create", "alice", silence_id)
    assert entry.reason == "llm provider outage, ticket OPS-1"
    assert entry.after["matchers"][0]["name"] == "alertname"

    # asked twice: the first silence stands, nothing applied twice
    assert await alerting_metrics.silence(alert, 600, "again") == silence_id
    assert len([s for s in await am_silences(alertmanager.url) if s["id"] == silence_id]) == 1
    assert (await plane.audit.tail(1))[0].id == entry.id

    await alerting_metrics.expire_silence(silence_id)
    await until(
        lambda: _find(alerting_metrics, alert.identity, silenced=False), what="alert unsilenced"
    )
    expired = (await plane.audit.tail(1))[0]
    assert (expired.action, expired.target) == ("silence.expire", silence_id)
    assert expired.after["state"] == "expired"
    with pytest.raises(NotFound, match="already expired"):
        await alerting_metrics.expire_silence(silence_id)


async def test_a_silence_needs_a_comment_and_a_responder(
    alerting_metrics, plane_as, settings, alertmanager
) -> None:
    alert = await breaker_alert(alerting_metrics, in_alertmanager=False)
    before = await am_silences(alertmanager.url)
    with pytest.raises(InvalidValue, match="needs a comment"):
        await alerting_metrics.silence(alert, 600, "   ")
    viewer = MetricsService(settings, plane_as("victor", "viewer"))
    try:
        with pytest.raises(PermissionDenied, match=r"silence\.create needs the responder role"):
            await viewer.silence(alert, 600, "curious")
    finally:
        await viewer.close()
    assert await am_silences(alertmanager.url) == before


async def _find(svc: MetricsService, identity: str, *, silenced: bool):
    for alert in (await svc.alerts()).alerts:
        if alert.identity == identity and alert.silenced == silenced:
            return alert
    return None


async def test_no_silence_is_left_without_its_audit_entry(
    alerting_metrics, settings, alertmanager
) -> None:
    from agentconsole.control import ControlPlane
    from agentconsole.control.errors import Unavailable
    from tests.fixtures.procs import free_port

    alert = await breaker_alert(alerting_metrics, in_alertmanager=False)
    dead = settings.__class__()
    dead.redis.url = f"redis://127.0.0.1:{free_port()}/0"
    dead.redis.connect_timeout = 0.5
    dead.operator.name, dead.operator.role = "alice", "responder"
    dead.alertmanager.url = alertmanager.url
    plane = ControlPlane.from_settings(dead)
    svc = MetricsService(dead, plane)
    try:
        with pytest.raises(Unavailable, match="expired again"):
            await svc.silence(alert, 600, "redis is down, audit impossible")
    finally:
        await svc.close()
        await plane.close()
    active = await am_silences(alertmanager.url)
    assert not [s for s in active if s["comment"] == "redis is down, audit impossible"]
