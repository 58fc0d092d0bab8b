"""The panels read what the SDK exports: the SDK's own metrics, scraped by a real Prometheus.

A feeder thread records the same batch of traffic through the SDK's ``AgentMetrics`` every
50 ms; the panels must show that batch's ratios. A scrape can land mid-batch, hence the
small tolerance.
"""

from __future__ import annotations

import threading
import time

import pytest

from agentconsole.config import Settings
from agentconsole.metrics.service import MetricsService
from tests.fixtures.prometheus import TEST_INTERVAL, start_prometheus


def record_batch(m) -> None:
    """10 runs: 9 succeed in 0.7 s, 1 fails in 4.5 s; 20 calls, 1 error; 2000 tokens a run."""
    for _ in range(9):
        m.runs.labels("success").inc()
        m.run_duration.labels("success").observe(0.7)
    m.runs.labels("failure").inc()
    m.run_duration.labels("failure").observe(4.5)
    m.call_counter("llm", "success").inc(19)
    m.call_counter("llm", "error").inc()
    m.tokens.labels("input", "gpt-x", "acme").inc(15000)
    m.tokens.labels("output", "gpt-x", "acme").inc(5000)
    m.cost.labels("gpt-x", "acme").inc(0.2)


@pytest.fixture(scope="module")
def sdk_prometheus(tmp_path_factory):
    from prometheus_client import CollectorRegistry, start_http_server

    from agentconsole.agent.metrics import metrics_for
    from tests.fixtures.procs import free_port

    registry = CollectorRegistry()
    m = metrics_for(registry)
    m.breaker_state.labels("llm").set(0)
    m.active_runs.set(3)
    stop = threading.Event()

    def feed() -> None:
        while not stop.wait(0.05):
            record_batch(m)

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    port = free_port()
    server, _ = start_http_server(port, addr="127.0.0.1", registry=registry)
    try:
        with start_prometheus(tmp_path_factory.mktemp("sdk"), [f"127.0.0.1:{port}"]) as prom:
            prom.wait_for(f"count_over_time(agent_active_runs[{TEST_INTERVAL}]) >= 5")
            yield prom
    finally:
        stop.set()
        feeder.join(2)
        server.shutdown()
        server.server_close()


async def test_panels_over_the_sdk_metrics(sdk_prometheus) -> None:
    settings = Settings()
    settings.prometheus.url = sdk_prometheus.url
    svc = MetricsService(settings, interval=TEST_INTERVAL)
    try:
        r = {p.panel.id: p for p in await svc.fetch_panels()}
    finally:
        await svc.close()
    approx = pytest.approx
    assert r["success_rate"].value == approx(0.9, rel=0.05)
    assert r["success_rate"].status == "breach"
    assert r["error_rate"].value == approx(0.05, rel=0.05)
    # run-time quantiles count successful runs only (the 4.5 s failure is not among them):
    # 0.7 s falls in the (0.5, 1] bucket, where Prometheus interpolates the 99th percentile
    assert 0.5 < r["p99_latency"].value <= 1.0
    assert r["p50_latency"].value < 1
    assert r["tokens_per_request"].value == approx(2000, rel=0.05)
    assert r["cost_per_request"].value == approx(0.02, rel=0.05)
    assert 20 < r["throughput"].value <= 205  # 10 runs every 50 ms or a little more
    assert r["active_agents"].value == 3
    assert r["open_breakers"].value == 0 and r["open_breakers"].status == "ok"
    assert r["cost_by_model"].labels_series.keys() == {"gpt-x"}
    assert r["error_rate_by_dependency"].labels_series == approx({"llm": 0.05}, rel=0.05)
    assert time.time() - r["throughput"].sample_time < 60  # a live sample, not a stale one
