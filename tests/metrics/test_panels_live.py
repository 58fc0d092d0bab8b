"""Panels against a real Prometheus scraping an exporter with known traffic."""

from __future__ import annotations

import itertools
import time

import pytest

from agentconsole.config import ModelPrice, Settings
from agentconsole.metrics.service import MetricsService
from tests.fixtures import prometheus as known

# Absolute rates over a few 5 s scrapes move with scrape-time jitter on a busy machine (the
# exporter reads its clock at collect time, Prometheus stamps the scrape start): 15 % still
# tells a right definition from a doubled or halved one. Ratios of one scrape are exact.
JITTER = 0.15


def make_service(url: str, **prometheus) -> MetricsService:
    settings = Settings()
    settings.prometheus.url = url
    settings.prometheus.timeout = 3.0
    for key, value in prometheus.items():
        setattr(settings.prometheus, key, value)
    return MetricsService(settings, interval=known.TEST_INTERVAL)


@pytest.fixture
async def service(prometheus):
    svc = make_service(prometheus.url)
    yield svc
    await svc.close()


async def fetch_until_complete(svc: MetricsService, window: str = "15m", timeout: float = 10.0):
    """Panels until every one has a value (the exporter's first scrapes are still landing)."""
    deadline = time.monotonic() + timeout
    while True:
        results = {r.panel.id: r for r in await svc.fetch_panels(window)}
        if all(r.value is not None for r in results.values()) or time.monotonic() > deadline:
            return results


async def test_panel_values_match_the_known_traffic(service) -> None:
    r = await fetch_until_complete(service)
    approx = pytest.approx
    assert r["p99_latency"].value == approx(4.0, rel=1e-6)
    assert r["p95_latency"].value == approx(2.625, rel=1e-6)
    assert r["p50_latency"].value == approx(0.625, rel=1e-6)
    assert r["error_rate"].value == approx(0.015, rel=1e-6)
    assert r["success_rate"].value == approx(0.96, rel=1e-6)
    assert r["tokens_per_request"].value == approx(2000, rel=1e-6)
    assert r["cost_per_request"].value == approx(0.04, rel=1e-6)
    assert r["throughput"].value == approx(50, rel=JITTER)
    assert r["spend_per_hour"].value == approx(7200, rel=JITTER)
    assert r["active_agents"].value == 7
    assert r["open_breakers"].value == 1
    assert r["refused_calls"].value == approx(10 / 210, rel=1e-6)  # rejected of all calls
    assert r["runaway_stopped"].value == 0
    # absolute rates are off by scrape-time jitter (the exporter's clock is read at collect
    # time, Prometheus stamps the scrape's start); ratios of series of one scrape are exact
    by_model = r["cost_by_model"].labels_series
    assert by_model == approx({"model-a": 5400, "model-b": 1800}, rel=JITTER)
    assert r["cost_by_model"].value == approx(7200, rel=JITTER)
    assert r["error_rate_by_dependency"].labels_series == approx({"llm": 0.03, "search": 0.0})
    assert r["error_rate_by_dependency"].value == approx(0.03)
    spent = r["spend_today"].value
    assert 0 < spent < 2.0 * 600  # $2/s since the exporter started, minutes ago at most


async def test_status_against_the_seed_targets(service) -> None:
    r = await fetch_until_complete(service)
    assert r["p99_latency"].status == "warning"  # 4.0 s: within 20% of 5 s
    assert r["error_rate"].status == "breach"  # 1.5% > 1%
    assert r["success_rate"].status == "warning"  # 96%: within 2% above 95%
    assert r["tokens_per_request"].status == "ok"
    assert r["cost_per_request"].status == "ok"
    assert r["open_breakers"].status == "breach"
    assert r["refused_calls"].status == "breach"  # 4.8% of calls refused by the llm breaker
    assert r["runaway_stopped"].status == "ok"
    assert r["throughput"].status == "ok"  # no target
    assert r["spend_per_hour"].panel.target is None  # no budget set: no target
    for result in r.values():
        assert result.error_kind is None, (result.panel.id, result.error)


async def test_sample_time_staleness_and_series(service) -> None:
    r = await fetch_until_complete(service)
    p99 = r["p99_latency"]
    assert p99.sample_time == pytest.approx(time.time(), abs=5)
    assert 0 <= p99.staleness < 5
    assert p99.step == 5 and p99.window == "15m"
    assert p99.series, "a chart series"
    assert all(v == pytest.approx(4.0) for _, v in p99.series)
    times = [t for t, _ in p99.series]
    assert times == sorted(times)
    assert all(b - a == pytest.approx(5) for a, b in itertools.pairwise(times))
    assert times[-1] == pytest.approx(time.time(), abs=5)
    assert r["spend_today"].series == []  # no series_query: no chart


@pytest.mark.parametrize(("window", "step"), [("1h", 15), ("6h", 120), ("24h", 600)])
async def test_long_windows_pick_a_coarser_step(service, window, step) -> None:
    r = await fetch_until_complete(service, window)
    assert r["throughput"].step == step
    assert r["throughput"].error_kind is None
    assert r["throughput"].series


async def test_a_bad_query_beside_good_panels(prometheus) -> None:
    svc = make_service(prometheus.url)
    svc.settings.panels = [
        {"id": "broken", "title": "Broken", "query": "sum(rate(agent_runs_total[5m]"},
        {"id": "nothing", "title": "Nothing", "query": "sum(no_such_metric_total)"},
    ]
    try:
        r = await fetch_until_complete(svc, timeout=0)  # the broken panels never complete
    finally:
        await svc.close()
    assert r["broken"].error_kind == "bad_query"
    assert "unclosed" in r["broken"].error or "parse error" in r["broken"].error
    assert r["broken"].status == "unknown" and r["broken"].value is None
    assert r["nothing"].error_kind == "no_data"
    assert r["throughput"].value == pytest.approx(50, rel=JITTER)
    assert r["throughput"].error_kind is None


async def test_ad_hoc_query_for_runbooks(service) -> None:
    result = await service.query('sum by (dependency) (agent_breaker_state{dependency="llm"})')
    assert result.value == 2
    assert result.labels_series == {'{dependency="llm"}': 2.0}
    bad = await service.query("sum(")
    assert bad.error_kind == "bad_query" and bad.value is None


async def test_prometheus_warnings_are_kept(service) -> None:
    # rate() over a gauge draws a warning in newer Prometheus; a sum over a missing metric
    # draws nothing. Either way the result must not fail because of warnings.
    result = await service.query("rate(agent_active_runs[1m])")
    assert result.error_kind in (None, "no_data")
    assert isinstance(result.warnings, list)


async def test_otel_preset_with_cost_from_the_price_table(prometheus) -> None:
    svc = make_service(prometheus.url, preset="otel")
    svc.settings.prices = {
        "gpt-x": ModelPrice(input_per_1k=0.001, output_per_1k=0.002),
        "claude": ModelPrice(input_per_1k=0.003, output_per_1k=0.015),
    }
    try:
        r = await fetch_until_complete(svc)
    finally:
        await svc.close()
    approx = pytest.approx
    assert r["throughput"].value == approx(30, rel=JITTER)
    assert r["error_rate"].value == approx(2 / 30)
    assert r["success_rate"].value == approx(28 / 30)
    assert r["tokens_per_request"].value == approx(2000)
    assert r["p99_latency"].value == approx(4.0)
    assert r["spend_per_hour"].value == approx(0.162 * 3600, rel=JITTER)
    assert r["cost_per_request"].value == approx(0.162 / 30)
    by_model = r["cost_by_model"].labels_series
    assert by_model == approx({"gpt-x": 151.2, "claude": 432.0}, rel=JITTER)
    assert r["error_rate_by_dependency"].labels_series == approx({"openai": 0.1, "anthropic": 0})
    assert r["active_agents"].value == 1


async def test_otel_preset_without_prices_says_why_cost_is_missing(prometheus) -> None:
    svc = make_service(prometheus.url, preset="otel")
    try:
        r = {p.panel.id: p for p in await svc.fetch_panels()}
    finally:
        await svc.close()
    assert r["cost_per_request"].error_kind == "no_data"
    assert "prices" in r["cost_per_request"].error


async def test_rules_are_loaded_and_healthy(service) -> None:
    deadline = time.monotonic() + 30  # each group is "unknown" until its first evaluation
    while True:
        data = await service.rules()
        health = {r["health"] for g in data["groups"] for r in g["rules"]}
        if health == {"ok"} or time.monotonic() > deadline:
            break
        time.sleep(1.0)
    groups = {g["name"]: g for g in data["groups"]}
    assert {"agentconsole-recording", "agentconsole-alerts"} <= set(groups)
    rules = [r for g in groups.values() for r in g["rules"]]
    import yaml

    from tests.fixtures.prometheus import DEPLOY

    shipped = sum(
        len(g["rules"])
        for name in ("recording.yml", "alerts.yml")
        for g in yaml.safe_load((DEPLOY / name).read_text())["groups"]
    )
    assert len(rules) == shipped
    assert {r["health"] for r in rules} == {"ok"}, [r.get("lastError") for r in rules]


async def test_spend_targets_come_from_the_budgets(prometheus, plane) -> None:
    """The fleet's daily budget is the target of "Spend today" and, spread over 24 h, of
    "Spend per hour"; changing the budget moves the targets at the next fetch."""
    plane.settings.prometheus.url = prometheus.url
    svc = MetricsService(plane.settings, plane, interval=known.TEST_INTERVAL)
    try:
        await plane.budgets.set("fleet_daily_cost_usd", 24000)
        await plane.budgets.set("tenant_daily_cost_usd", 96000)  # $4,000/h per tenant
        r = await fetch_until_complete(svc)
        by_tenant = r["spend_by_tenant"]
        assert by_tenant.labels_series == pytest.approx({"acme": 5400, "beta": 1800}, rel=1e-2)
        assert by_tenant.panel.target.threshold == pytest.approx(4000)
        assert by_tenant.status == "breach"  # acme, the top spender, is past its share
        assert r["spend_per_hour"].panel.target.threshold == pytest.approx(1000)
        assert r["spend_per_hour"].status == "breach"  # $7,200/h against $1,000/h
        assert r["spend_today"].panel.target.threshold == 24000
        assert r["spend_today"].status == "ok"
        await plane.budgets.set("fleet_daily_cost_usd", 10**9)
        r = await fetch_until_complete(svc)
        assert r["spend_per_hour"].status == "ok"
    finally:
        await svc.close()


async def test_spend_today_never_goes_down(service) -> None:
    seen = []
    for _ in range(4):
        r = await fetch_until_complete(service)
        seen.append(r["spend_today"].value)
        time.sleep(1.0)
    assert seen == sorted(seen) and seen[-1] > seen[0]


RATIOS = (
    "p99_latency",
    "p95_latency",
    "p50_latency",
    "error_rate",
    "success_rate",
    "refused_calls",
    "tokens_per_request",
    "cost_per_request",
    "active_agents",
    "open_breakers",
    "runaway_stopped",
)


async def test_panels_read_the_recording_rules_and_agree_with_the_raw_queries(prometheus) -> None:
    """At the preset's own window (2m, the rules'), every panel with a rule reads it: one
    pre-aggregated series. Its values are the raw queries' (ratios exactly)."""
    recorded, raw = make_service(prometheus.url), make_service(prometheus.url)
    recorded._interval = raw._interval = None  # the preset's interval: the rules' window
    raw.read_rules = False
    try:
        r = await fetch_until_complete(recorded)
        q = {p.panel.id: p for p in await raw.fetch_panels("15m")}
    finally:
        await recorded.close()
        await raw.close()
    reads_rules = {pid for pid, p in r.items() if p.source == "recorded"}
    # spend today's rule is evaluated every 15 s: it may not have run yet (its own test)
    assert reads_rules - {"spend_today"} == {p.id for p in recorded.panels() if p.recorded} - {
        "spend_today"
    }
    assert len(reads_rules - {"spend_today"}) == 16
    assert all(p.source == "query" for p in q.values())
    for pid in RATIOS:
        assert r[pid].value == pytest.approx(q[pid].value, rel=1e-6, abs=1e-9), pid
    assert r["p99_latency"].value == pytest.approx(4.0, rel=1e-6)
    assert r["refused_calls"].value == pytest.approx(10 / 210, rel=1e-6)
    # absolute rates over 2m grow while a fresh Prometheus fills the window: compare the
    # recorded ones with each other (one rule group, one evaluation instant)
    assert r["spend_per_hour"].value / r["throughput"].value == pytest.approx(144, rel=1e-3)
    by_model = r["cost_by_model"].labels_series
    assert by_model["model-a"] / by_model["model-b"] == pytest.approx(3, rel=1e-3)
    by_tenant = r["spend_by_tenant"].labels_series
    assert by_tenant["acme"] / by_tenant["beta"] == pytest.approx(3, rel=1e-3)
    assert sum(by_model.values()) == pytest.approx(r["spend_per_hour"].value, rel=1e-3)
    assert r["error_rate_by_dependency"].labels_series == approx_dict({"llm": 0.03, "search": 0})
    assert set(r["spend_by_tenant"].labels_series) == {"acme", "beta"}
    assert r["throughput"].series  # the chart reads the rule too


async def test_the_spend_rule_adds_up_to_the_raw_spend_and_is_read_once_it_covers_the_day(
    prometheus, plane
) -> None:
    """Spend today over the spend rule: its per-evaluation increments add up to the raw
    max - min over the same span (to within one 15 s evaluation at each end). A store whose
    spend group has not evaluated all day (this fresh one) is read raw, panel and report."""
    from agentconsole.metrics.forecast import spend_report

    evaluated = "count_over_time(agent:spend_evaluations:count[1h]) >= 5"
    (found,) = prometheus.wait_for(evaluated, 90)  # five evaluations, 15 s apart
    span = int(float(found["value"][1])) * 15

    def one(promql: str) -> float:
        (row,) = prometheus.query(promql)
        return float(row["value"][1])

    c = "agent_cost_usd_total"
    by_rule = one(f"sum(sum_over_time(tenant:agent_cost_usd:increase15s[{span}s]))")
    raw = one(f"sum(max_over_time({c}[{span}s]) - min_over_time({c}[{span}s]))")
    one_interval = one(f"sum(rate({c}[1m]))") * 16  # 15 s of spend and a scrape
    assert raw - 2 * one_interval <= by_rule <= raw + one_interval, (by_rule, raw)
    by_tenant = prometheus.query(
        f"sum by (tenant) (sum_over_time(tenant:agent_cost_usd:increase15s[{span}s]))"
    )
    spent = {r["metric"]["tenant"]: float(r["value"][1]) for r in by_tenant}
    assert spent["acme"] / spent["beta"] == pytest.approx(3, rel=0.15)

    recorded = make_service(prometheus.url)
    recorded._interval = None  # the preset's interval: the rules' window
    raw_svc = make_service(prometheus.url)
    raw_svc._interval, raw_svc.read_rules = None, False
    try:
        today = await recorded.fetch_panel("spend_today", "15m")
        report = await spend_report(recorded, plane, top=5)
        raw_report = await spend_report(raw_svc, plane, top=5)
        if time.time() % 86400 > 3600:  # the group has not evaluated since 00:00 UTC
            assert today.source == "query" and today.value, today
            assert report.source == "query"
        assert {t.tenant for t in report.tenants} == {"acme", "beta"}
        for mine, theirs in zip(report.tenants, raw_report.tenants, strict=True):
            assert mine.tenant == theirs.tenant
            assert mine.today == pytest.approx(theirs.today, abs=2 * one_interval)
    finally:
        await recorded.close()
        await raw_svc.close()


def approx_dict(expected: dict[str, float]):
    return pytest.approx(expected, rel=1e-6, abs=1e-9)


async def test_a_rule_without_data_falls_back_to_the_raw_query(prometheus) -> None:
    """A store without the rules (or a fresh one) still shows every panel, from the raw
    query; a panel whose query a config replaces never reads the preset's rule."""
    svc = make_service(prometheus.url)
    calls = "sum(rate(agent_dependency_calls_total{outcome=~'success|error'}[$interval]))"
    errors = "sum(rate(agent_dependency_calls_total{outcome='error'}[$interval]))"
    svc.settings.panels = [
        {"id": "success_rate", "recorded": "agent:no_such_rule:rate2m"},
        {
            "id": "error_rate",
            "query": f"{errors} / {calls}",
        },
    ]
    svc._interval = None
    try:
        r = await fetch_until_complete(svc)
        assert r["success_rate"].source == "query"
        assert r["success_rate"].value == pytest.approx(0.96, rel=1e-6)
        assert r["error_rate"].source == "query" and r["error_rate"].panel.recorded is None
        assert r["error_rate"].value == pytest.approx(0.015, rel=1e-6)
        assert r["p99_latency"].source == "recorded"
        again = {p.panel.id: p for p in await svc.fetch_panels("15m")}
        assert again["success_rate"].source == "query"  # not asked again for a while
    finally:
        await svc.close()


async def test_long_window_charts_average_the_rule(prometheus) -> None:
    svc = make_service(prometheus.url)
    svc._interval = None
    try:
        await fetch_until_complete(svc)
        day = {p.panel.id: p for p in await svc.fetch_panels("24h")}
    finally:
        await svc.close()
    assert day["throughput"].source == "recorded"
    assert day["throughput"].series, day["throughput"].warnings
    assert day["success_rate"].series[-1][1] == pytest.approx(0.96, rel=1e-3)
