"""The demo's cost-explosion story, mitigated by moving globex to the cheap model tier, seen
by a real Prometheus scraping the simulated fleet.

The tenant's cost per request is read as its spend per 1,000 tokens: in the surge, globex's
requests have a fixed size (the scenario's 3,000-token prompts and 900-token answers), so
the two fall by the same factor, and the SDK exports tokens and spend by tenant (runs are
not labelled by tenant, to keep the series bounded).
"""

from __future__ import annotations

import asyncio
import contextlib

from prometheus_client import CollectorRegistry

from agentconsole.config import Settings
from agentconsole.control import operations as ops
from agentconsole.metrics.service import MetricsService
from agentconsole.sim import demo_flags
from agentconsole.sim.fleet import Fleet
from tests.fixtures.procs import free_port
from tests.fixtures.prometheus import TEST_INTERVAL, start_prometheus

PER_1K = (
    f'sum(rate(agent_cost_usd_total{{tenant="globex"}}[{TEST_INTERVAL}])) * 1000'
    f' / sum(rate(agent_tokens_total{{tenant="globex"}}[{TEST_INTERVAL}]))'
)


async def _value(prom, promql: str) -> float | None:
    rows = await asyncio.to_thread(prom.query, promql)
    return float(rows[0]["value"][1]) if rows else None


async def _until(prom, promql: str, good, timeout: float = 45.0) -> float:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    value = None
    while loop.time() < deadline:
        value = await _value(prom, promql)
        if value is not None and good(value):
            return value
        await asyncio.sleep(0.5)
    raise AssertionError(f"{promql} never got there (last value {value})")


async def _spend_panels(url: str) -> dict[str, float]:
    settings = Settings()
    settings.prometheus.url = url
    svc = MetricsService(settings, interval=TEST_INTERVAL)
    try:
        panels = {p.panel.id: p.value for p in await svc.fetch_panels()}
    finally:
        await svc.close()
    return {k: panels[k] for k in ("cost_per_request", "spend_per_hour") if k in panels}


async def test_moving_globex_to_cheap_drops_its_cost_per_request(plane, settings, tmp_path):
    assert await demo_flags.seed(plane) == ["model-tier"]
    await plane.budgets.set("user_daily_tokens", 10**9)
    await plane.budgets.set("user_daily_cost_usd", 10**6)
    port = free_port()
    fleet = Fleet(settings, 12, "cost-explosion", time_scale=0.05, registry=CollectorRegistry())
    stop = asyncio.Event()
    running = asyncio.create_task(fleet.run(stop, metrics_port=port, out=None))
    server = start_prometheus(tmp_path / "prom", [f"127.0.0.1:{port}"])
    try:
        prom = await asyncio.to_thread(server.__enter__)
        before = await _until(prom, PER_1K, lambda v: v > 0.01)  # claude-opus: ~$0.03 per 1k
        panels_before = await _spend_panels(prom.url)

        call = ops.get("tenant.move").call(
            {"tenant": "globex", "flag": "model-tier", "variant": "cheap"},
            reason="cost explosion: globex to the cheap tier",
            wait=5,
        )
        preview = await call.op.preview(plane, call)
        assert preview.title.startswith("Move tenant globex to cheap (gpt-4o-mini)")
        outcome = await call.op.run(plane, call)
        assert "override tenant globex → cheap" in outcome.text
        assert "running agents of globex applied it" in outcome.text

        after = await _until(prom, PER_1K, lambda v: v < before / 20)
        panels_after = await _spend_panels(prom.url)
        # model-tier is tracked: runs are counted by the variant they got, for the panels
        cheap_runs = 'sum(agent_flag_runs_total{flag="model-tier",variant="cheap"})'
        assert await _until(prom, cheap_runs, lambda v: v > 0) > 0
    finally:
        stop.set()
        with contextlib.suppress(Exception):
            await running
        await asyncio.to_thread(server.__exit__, None, None, None)
    assert after < 0.001 < before  # gpt-4o-mini: ~$0.00025 per 1k tokens in the same runs
    for panel in panels_before.keys() & panels_after.keys():
        assert panels_after[panel] < panels_before[panel] / 2, panel  # the spend panel falls
    assert panels_before  # at least one spend panel was read
