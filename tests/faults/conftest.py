"""Fault-suite fixtures: a Prometheus the tests may kill, and a stalling proxy before it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.faults.servers import RestartablePrometheus, StallingProxy
from tests.fixtures.procs import wait_until


@pytest.fixture(scope="module")
def killable_prometheus(traffic_exporter, tmp_path_factory) -> Iterator[RestartablePrometheus]:
    """A real Prometheus scraping the known-traffic exporter; tests kill and restart it."""
    prom = RestartablePrometheus(tmp_path_factory.mktemp("prom-faults"), [traffic_exporter.target])
    prom.start()
    try:
        wait_until(prom.has_samples, 20, "five scrapes in Prometheus")
        yield prom
    finally:
        prom.stop()


@pytest.fixture
def running_prometheus(killable_prometheus) -> RestartablePrometheus:
    """The module's Prometheus, started again if an earlier test left it dead."""
    if killable_prometheus.proc is None or killable_prometheus.proc.poll() is not None:
        killable_prometheus.start()
    return killable_prometheus


@pytest.fixture
def stalling_proxy(running_prometheus) -> Iterator[StallingProxy]:
    with StallingProxy(running_prometheus.url) as proxy:
        yield proxy
