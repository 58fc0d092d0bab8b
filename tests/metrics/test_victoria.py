"""The console's panels and the shipped rules against VictoriaMetrics, behind a path prefix.

Both stores scrape the same known-traffic exporter. Where VictoriaMetrics answers a query
differently, the difference is asserted here and documented in docs/scaling.md:
``increase()`` over a window that holds a counter's first sample counts that sample from
zero (Prometheus starts from the first sample it has), so "spend today" on a series that
started today is higher (and closer to the truth) there.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from agentconsole.metrics.service import MetricsService
from tests.metrics.test_panels_live import fetch_until_complete, make_service

EXACT = (  # ratios of series from one scrape: the same to rounding on both stores
    "p99_latency",
    "p95_latency",
    "p50_latency",
    "error_rate",
    "success_rate",
    "tokens_per_request",
    "cost_per_request",
    "active_agents",
    "open_breakers",
    "error_rate_by_dependency",
)
RATES = ("throughput", "spend_per_hour", "cost_by_model")  # scrape-time jitter: within 2%


@pytest.fixture
async def vm_service(victoria):
    svc = make_service(victoria.url)
    yield svc
    await svc.close()


@pytest.fixture
async def prom_service(prometheus):
    svc = make_service(prometheus.url)
    yield svc
    await svc.close()


async def test_every_panel_answers_as_on_prometheus(vm_service, prom_service):
    vm = await fetch_until_complete(vm_service, timeout=30)
    prom = await fetch_until_complete(prom_service, timeout=30)
    assert set(vm) == set(prom)
    for panel_id, result in vm.items():
        assert result.error_kind is None, (panel_id, result.error)
        assert result.value is not None, panel_id
    for panel_id in EXACT:
        assert vm[panel_id].value == pytest.approx(prom[panel_id].value, rel=1e-6), panel_id
        if vm[panel_id].value == prom[panel_id].value:  # equal to rounding may straddle a
            assert vm[panel_id].status == prom[panel_id].status, panel_id  # status boundary
        series = prom[panel_id].labels_series
        assert vm[panel_id].labels_series == pytest.approx(series, rel=1e-6), panel_id
    for panel_id in RATES:
        assert vm[panel_id].value == pytest.approx(prom[panel_id].value, rel=2e-2), panel_id
    # the documented difference: the counter's first sample counts from zero there
    assert vm["spend_today"].value >= prom["spend_today"].value > 0


async def test_shipped_rules_run_on_vmalert_and_reach_the_console(victoria, vm_service):
    if victoria.vmalert_url is None:
        pytest.skip("this victoria-metrics package ships no vmalert")
    rules = await vm_service.rules()  # proxied by VictoriaMetrics to vmalert
    checked = [r for g in rules["groups"] for r in g["rules"]]
    assert checked and all(r.get("lastError", "") == "" for r in checked), [
        (r["name"], r["lastError"]) for r in checked if r.get("lastError")
    ]
    # the known traffic breaches these two whatever the timing: 1.5% errors, a breaker open
    expected = {"AgentErrorRateHigh", "DependencyBreakerOpen"}
    deadline = time.monotonic() + 60
    firing: set[str] = set()
    while time.monotonic() < deadline:
        alerts = (await vm_service.alerts()).alerts
        firing = {a.name for a in alerts if a.state == "firing"}
        if expected <= firing:
            break
        await asyncio.sleep(0.5)
    assert expected <= firing
    breaker = next(a for a in alerts if a.name == "DependencyBreakerOpen")
    assert breaker.labels.get("dependency") == "llm"


async def test_an_empty_alert_list_from_vmalert_is_no_alerts():
    """vmalert answers ``"alerts": null`` when nothing is active: no alerts, not an error."""
    from tests.fixtures.prometheus import http_stub

    body = '{"status": "success", "data": {"alerts": null}}'
    with http_stub(lambda path, headers: (200, body)) as stub:
        svc: MetricsService = make_service(stub.url)
        try:
            result = await svc.alerts()
        finally:
            await svc.close()
    assert result.alerts == [] and result.error is None and result.error_kind is None


PER_AGENT = {"instance", "agent_id", "agent", "run_id", "trace_id", "pod", "host", "user", "pid"}


@pytest.mark.parametrize("preset", ["agentconsole", "otel"])
def test_no_panel_query_keeps_a_per_agent_label(preset):
    """A fleet of 100,000 agents' series must not become 100,000 series on screen: panels
    aggregate (sum/max by a bounded label), and a per-agent view would have to be topk."""
    import re

    from agentconsole.metrics.panels import load_preset

    doc = load_preset(preset)
    texts = [str(v) for p in doc.get("panels", []) for k, v in p.items() if "query" in k]
    assert texts
    for text in texts:
        for clause in re.findall(r"\b(?:by|without)\s*\(([^)]*)\)", text):
            labels = {label.strip() for label in clause.split(",") if label.strip()}
            assert not labels & PER_AGENT or "topk(" in text, (preset, text)
        aggregated = re.search(r"\b(sum|max|min|avg|count|topk|histogram_quantile)\s*[(b]", text)
        assert aggregated or "${" in text, (preset, text)
