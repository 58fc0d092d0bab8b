"""The spend forecast: its arithmetic in every state, and against a real Prometheus."""

from __future__ import annotations

import calendar
import time

import pytest

from agentconsole.control.registry import AgentRecord
from agentconsole.metrics.forecast import end_of_day, forecast, spend_report
from agentconsole.metrics.service import MetricsService
from tests.fixtures import prometheus as known

NOON = calendar.timegm((2026, 12, 2, 12, 0, 0))  # 12:00:00 UTC


def test_a_tenant_burning_toward_its_cap_crosses_it_at_a_named_utc_time() -> None:
    # $1,000 left at $500/h: two hours from noon
    f = forecast("globex", 3000.0, 500.0, 4000.0, NOON)
    assert f.state == "crossing"
    assert f.crosses_at == NOON + 7200
    assert f.text == (
        "globex crosses its $4,000 daily cap at 14:00 UTC (in 2h00m) at $500/h over the last 2m"
    )


def test_a_crossing_after_midnight_is_within_cap_today_with_the_days_total() -> None:
    f = forecast("acme", 100.0, 10.0, 4000.0, NOON, window="5m")
    assert f.state == "within"
    assert f.text == (
        "acme stays within its $4,000 daily cap today: $220 by 24:00 UTC at $10.00/h over the "
        "last 5m"
    )


def test_already_over_the_cap_says_by_how_much() -> None:
    f = forecast("globex", 4210.0, 4950.0, 4000.0, NOON)
    assert f.state == "over"
    assert f.text.startswith("globex is over its $4,000 daily cap: $4,210 spent today (105 %)")
    assert f.text.endswith("; its calls are refused ($4,950/h over the last 2m)")


def test_no_cap_no_data_zero_rate_and_no_rate_each_say_so() -> None:
    assert forecast("a", 12.0, 3.0, 0.0, NOON).text == (
        "a: no daily cap set; $12.00 today at $3.00/h over the last 2m"
    )
    assert forecast("a", None, None, 0.0, NOON).state == "no_data"
    assert forecast("a", None, None, 50.0, NOON).text == (
        "a: no spend recorded today (daily cap $50.00)"
    )
    idle = forecast("a", 20.0, 0.0, 50.0, NOON)
    assert (idle.state, idle.text) == (
        "idle",
        "a spends nothing now: within its $50.00 daily cap today ($20.00 spent)",
    )
    no_rate = forecast("a", 20.0, None, 50.0, NOON)
    assert no_rate.state == "no_rate" and "no burn rate" in no_rate.text


def test_burning_but_too_new_for_a_days_figure_counts_from_nothing() -> None:
    f = forecast("new", None, 100.0, 50.0, NOON)
    assert f.state == "crossing" and f.crosses_at == NOON + 1800


def test_a_crossing_within_the_minute_and_untrusted_names() -> None:
    f = forecast("evil\x1b[2Jname", 99.9, 3600.0, 100.0, NOON)
    assert "within a minute" in f.text and "\x1b" not in f.text


def test_end_of_day_is_the_next_midnight_utc() -> None:
    assert end_of_day(NOON) == NOON + 12 * 3600
    assert end_of_day(NOON - 12 * 3600) == NOON + 12 * 3600  # at 00:00 itself: the next


# --- against a real Prometheus scraping known traffic (acme $5,400/h, beta $1,800/h) -----


@pytest.fixture
async def metrics(settings, prometheus):
    settings.prometheus.url = prometheus.url
    settings.prometheus.timeout = 3.0
    svc = MetricsService(settings, interval=known.TEST_INTERVAL)
    yield svc
    await svc.close()


async def test_the_report_ranks_tenants_by_when_they_cross_their_cap(metrics, plane) -> None:
    now = time.time()
    left = min(1800.0, (end_of_day(now) - now) / 2)  # the crossing stays before midnight
    spent = await _acme_today(metrics)
    # one cap for every tenant: acme crosses it `left` seconds from now (spent grows meanwhile)
    cap = spent + 5400 * left / 3600
    await plane.budgets.set("tenant_daily_cost_usd", cap, reason="test")
    await plane.agents.heartbeat(AgentRecord(id="big", tenant="acme", cost=9.5, steps=3))
    await plane.agents.heartbeat(AgentRecord(id="small", tenant="beta", cost=0.5, steps=1))
    report = await spend_report(metrics, plane, top=5)
    assert report.metrics_error is None and report.redis_error is None
    acme, beta = report.tenants
    assert acme.tenant == "acme" and acme.forecast.state == "crossing"
    assert acme.rate == pytest.approx(5400, rel=5e-2)
    assert acme.cap == pytest.approx(cap)
    # the straight line from what Prometheus said: crossing where spend + rate meets the cap
    assert acme.forecast.crosses_at == pytest.approx(
        report.now + (cap - acme.today) / acme.rate * 3600
    )
    assert acme.forecast.crosses_at == pytest.approx(now + left, abs=120)
    assert beta.rate == pytest.approx(1800, rel=5e-2)
    assert report.headline == acme.forecast.text
    assert [a.id for a in report.agents] == ["big", "small"]


async def test_top_n_costs_one_tenant_when_n_is_one(metrics, plane) -> None:
    report = await spend_report(metrics, plane, top=1)
    assert [t.tenant for t in report.tenants] == ["acme"]
    assert all(t.forecast.state == "no_cap" for t in report.tenants)  # no cap set here


async def _acme_today(metrics) -> float:
    report = await spend_report(metrics, None, top=5)
    (acme,) = [t for t in report.tenants if t.tenant == "acme"]
    assert acme.today is not None
    return acme.today


async def test_prometheus_down_gives_no_forecast_and_keeps_the_agents(settings, plane) -> None:
    from tests.fixtures.procs import free_port

    settings.prometheus.url = f"http://127.0.0.1:{free_port()}"
    settings.prometheus.timeout = 2.0
    await plane.agents.heartbeat(AgentRecord(id="big", tenant="acme", cost=9.5, steps=3))
    svc = MetricsService(settings)
    try:
        report = await spend_report(svc, plane)
    finally:
        await svc.close()
    assert report.tenants == []
    assert report.headline.startswith("no forecast: Prometheus unreachable")
    assert [a.id for a in report.agents] == ["big"]


async def test_redis_down_shows_spend_with_the_cap_unknown(metrics, settings) -> None:
    report = await spend_report(metrics, None)
    assert report.redis_error == "control plane unavailable"
    assert {t.tenant for t in report.tenants} == {"acme", "beta"}
    assert all(t.forecast.state == "unknown" and t.cap is None for t in report.tenants)


async def test_a_tenants_own_cap_replaces_the_default_for_that_tenant(metrics, plane) -> None:
    from agentconsole.control import operations as ops

    await plane.budgets.set("tenant_daily_cost_usd", 1e9, reason="test")
    cap = ops.get("budget.tenant")
    outcome = await cap.run(plane, cap.call({"tenant": "beta", "value": "0.01"}, reason="test"))
    assert outcome.text.startswith(
        "daily cap of tenant beta: $1,000,000,000 (tenant_daily_cost_usd) -> $0.01"
    )
    report = await spend_report(metrics, plane)
    beta = next(t for t in report.tenants if t.tenant == "beta")
    acme = next(t for t in report.tenants if t.tenant == "acme")
    assert (beta.forecast.state, beta.cap, beta.own_cap) == ("over", 0.01, True)
    assert (acme.cap, acme.own_cap) == (1e9, False)
    assert report.tenants[0] is beta  # over its cap: first
    await cap.run(plane, cap.call({"tenant": "beta", "value": "0"}, reason="lifted"))
    assert await plane.budgets.tenant_caps(["beta", "acme"]) == {}
    actions = [e.action for e in await plane.audit.tail(5)]
    assert actions.count("budget.tenant") == 2


async def test_a_tenant_with_its_own_cap_is_shown_however_little_it_spends(metrics, plane):
    """top 1 by burn and by spend is acme; beta, over its own cap, still comes first."""
    await plane.budgets.set_tenant_cap("beta", 0.01, reason="test")
    await plane.budgets.set_tenant_cap('we"ird|te.nant', 5, reason="a name to escape")
    report = await spend_report(metrics, plane, top=1)
    assert [(t.tenant, t.forecast.state) for t in report.tenants] == [("beta", "over")]


def test_only_escapes_tenant_names_for_promql_and_re2() -> None:
    from agentconsole.metrics.forecast import _only

    q = _only("sum(agent_cost_usd_total)", ["a.b|c", 'd"e'])
    assert q == 'sum(agent_cost_usd_total{tenant=~"a\\\\.b\\\\|c|d\\"e"})'
