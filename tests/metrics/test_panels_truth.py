"""The shipped panels against the simulator's known truth, scenario by scenario.

One simulated fleet in this process (its SDK metrics scraped every second by a real
Prometheus with the shipped rules), switched through every scenario of the demo. At the end
of each phase the panels are fetched over a 10 s window and compared with what the fleet
itself recorded over the same seconds: each panel must be true in every scenario, and the
panels must not contradict each other (runs failing while every dependency panel says ok,
fast failures faking a latency quantile, spend going down or showing "no series").
Time runs ten times faster than in the demo (latency, think time, breaker waits), so
the whole story takes about a minute.
"""

from __future__ import annotations

import asyncio
import re
import statistics
import time

import pytest
from prometheus_client import CollectorRegistry

from agentconsole.metrics.service import MetricsService
from agentconsole.sim.fleet import TENANTS, Fleet
from agentconsole.tui.views.overview import panel_text
from tests.fixtures.procs import free_port
from tests.fixtures.prometheus import start_prometheus

AGENTS = 40
WINDOW = 10.0  # seconds: the panels' rate window in this test
PHASE = 14.0  # a window's worth of the scenario plus scrape and evaluation lag
SCENARIOS = ("steady", "provider-outage", "latency-spike", "runaway", "cost-explosion")


@pytest.fixture
async def fleet_and_prometheus(settings, tmp_path):
    registry = CollectorRegistry()
    fleet = Fleet(settings, AGENTS, "steady", time_scale=0.1, registry=registry, seed=11)
    port = free_port()
    stop = asyncio.Event()
    task = asyncio.create_task(fleet.run(stop, metrics_port=port, out=None))
    try:
        with start_prometheus(tmp_path / "prom", [f"127.0.0.1:{port}"]) as prom:
            await asyncio.to_thread(prom.wait_for, "sum(agent_runs_total) > 0", 30)
            fleet.spent_before_prometheus = fleet.stats.cost  # a counter's first sample
            yield fleet, prom
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)


def truth(fleet: Fleet, seconds: float) -> dict[str, float | None]:
    """What the fleet recorded over the last ``seconds``."""
    runs = fleet.stats.since(time.monotonic() - seconds)
    ok = [d for _, outcome, d, _ in runs if outcome == "success"]
    return {
        "runs": len(runs),
        "success": len(ok) / len(runs) if runs else None,
        "p50_ok": statistics.median(ok) if ok else None,
        "cost_per_hour": sum(c for *_, c in runs) / seconds * 3600,
        "runaway": sum(1 for _, outcome, *_ in runs if outcome == "runaway"),
    }


async def check_spend_forecast(fleet: Fleet, metrics, plane, r, why: str, since: float):
    """Spend by tenant against the fleet's own record: the tenants' days add up to the spend
    today panel, the fastest burner's rate is what it spent over the window; with a cap
    half an hour away at that rate, the forecast names that time."""
    from agentconsole.metrics.forecast import end_of_day, spend_report

    report = await spend_report(metrics, plane, top=len(TENANTS))
    assert report.metrics_error is None and report.tenants, why
    days = sum(t.today or 0.0 for t in report.tenants)
    # read after the panels: what the fleet charged since (and a scrape before) may be in it
    moved = sum(c for end, _tenant, c in fleet.stats.charged if end >= since - 1.0)
    panel = r["spend_today"].value
    assert panel * 0.95 - 0.01 <= days <= panel * 1.05 + 0.01 + moved, f"{why}: +{moved}"
    top = max(report.tenants, key=lambda t: t.rate or 0.0)
    start = time.monotonic() - WINDOW
    spent = sum(
        c for end, tenant, c in fleet.stats.charged if end >= start and tenant == top.tenant
    )
    assert top.rate == pytest.approx(spent / WINDOW * 3600, rel=0.4, abs=2.0), f"{why} {top}"
    if not top.rate or end_of_day(report.now) - report.now < 3600:
        return top, None  # nothing burns, or the crossing would fall after midnight UTC
    cap = (top.today or 0.0) + top.rate / 2  # half an hour of burn left
    await plane.budgets.set("tenant_daily_cost_usd", cap, reason="truth test")
    capped = await spend_report(metrics, plane, top=len(TENANTS))
    await plane.budgets.set("tenant_daily_cost_usd", 0, reason="truth test")
    first = capped.tenants[0]
    assert first.forecast.state in ("crossing", "over"), f"{why} {first}"
    if first.tenant == top.tenant and first.forecast.state == "crossing":
        assert first.forecast.crosses_at == pytest.approx(capped.now + 1800, abs=300), why
    return top, first


def check_cards(results, now: float) -> None:
    for r in results:
        text = panel_text(r, now).plain
        assert not (r.value is not None and "no series" in text), (r.panel.id, text)
        value_line = text.splitlines()[1]  # "12.3 %   target < 1.00 %": the units shown
        assert not re.search(r"\d (count|usd)\b", value_line), (r.panel.id, text)


async def test_every_panel_tells_the_truth_in_every_scenario(settings, plane, fleet_and_prometheus):
    fleet, prom = fleet_and_prometheus
    settings.prometheus.url = prom.url
    metrics = MetricsService(settings, interval=f"{WINDOW:.0f}s")
    seen: dict[str, dict] = {}
    spend_today: list[float] = []
    try:
        for name in SCENARIOS:
            fleet.set_scenario(name)
            await asyncio.sleep(PHASE)
            known = truth(fleet, WINDOW)
            panels_read = time.monotonic()
            results = await metrics.fetch_panels("15m")
            r = {x.panel.id: x for x in results}
            seen[name] = {"truth": known, "panels": r}
            check_cards(results, time.time())
            why = f"{name}: truth {known}"

            # runs: success rate as the fleet counted it (a window's alignment apart)
            assert r["success_rate"].value == pytest.approx(known["success"], abs=0.15), why
            # a success breach is explained by a dependency panel, never beside all "ok"
            if r["success_rate"].status == "breach":
                explained = ("error_rate", "refused_calls", "runaway_stopped", "open_breakers")
                assert any(r[p].status in ("breach", "warning") for p in explained), why
            # run time of successful runs, within a bucket's resolution of the truth
            if known["p50_ok"] is not None and r["p50_latency"].value is not None:
                ratio = r["p50_latency"].value / known["p50_ok"]
                assert 0.4 < ratio < 2.5, f"{why}: p50 {r['p50_latency'].value}"
            # money: the hour's rate and the day's total as the fleet spent it
            spent_per_hour = pytest.approx(known["cost_per_hour"], rel=0.4, abs=2.0)  # $2/h
            assert r["spend_per_hour"].value == spent_per_hour, why
            spend_today.append(r["spend_today"].value)
            spent = fleet.stats.cost - fleet.spent_before_prometheus
            assert spend_today[-1] == pytest.approx(spent, rel=0.15), why
            assert 0 <= r["active_agents"].value <= AGENTS, why
            seen[name]["spend"] = await check_spend_forecast(
                fleet, metrics, plane, r, why, since=panels_read
            )
    finally:
        await metrics.close()

    assert spend_today == sorted(spend_today), f"spend today went down: {spend_today}"
    outage, steady = seen["provider-outage"]["panels"], seen["steady"]["panels"]
    assert outage["success_rate"].status == "breach"
    assert outage["refused_calls"].status == "breach" or outage["error_rate"].status == "breach"
    # a breaker opened during the outage: it may read half-open at the very scrape the panel
    # reads (its cooldown ended and the probe is in flight), so its chart is asked too
    breakers = outage["open_breakers"]
    assert max([breakers.value or 0, *(v for _, v in breakers.series)]) >= 1, breakers
    # fast failures no longer fake a quantile: only successful runs count, or none at all
    p99 = outage["p99_latency"]
    assert p99.value is None or p99.value >= 0.5 * seen["steady"]["truth"]["p50_ok"]
    if p99.value is None:
        assert p99.error == "no successful runs in the window"
    # slower runs read slower (as the fleet timed them: on a loaded machine every run is)
    spike = seen["latency-spike"]["panels"]
    if seen["latency-spike"]["truth"]["p50_ok"] > 1.5 * seen["steady"]["truth"]["p50_ok"]:
        assert spike["p50_latency"].value > steady["p50_latency"].value
    assert seen["runaway"]["panels"]["runaway_stopped"].value > 0
    # the cost explosion: globex burns most and the forecast says when it crosses its cap
    burning, capped = seen["cost-explosion"]["spend"]
    assert burning.tenant == "globex" and burning.rate > 3 * seen["steady"]["spend"][0].rate
    if capped is not None:  # "globex crosses its $41.20 daily cap at 14:20 UTC (in 30m) at …"
        assert capped.tenant == "globex" and capped.forecast.state == "crossing", capped
        assert capped.forecast.text.startswith("globex crosses its $"), capped
    cost = seen["cost-explosion"]["panels"]
    assert cost["cost_per_request"].status == "breach"
    assert cost["spend_per_hour"].value > 3 * steady["spend_per_hour"].value
    for name in SCENARIOS:
        assert seen[name]["panels"]["error_rate"].panel.description.startswith("of calls made")
