"""Metrics-layer benchmark: time to fetch every panel, and to report a dead or hung server.

Starts a real prometheus (1 s scrape, the shipped rules) on a free loopback port scraping
the tests' known-traffic exporter, then times ``MetricsService.fetch_panels`` (14 panels,
each an instant and, for 11 of them, a range query, all concurrent) per chart window, and
the time until every panel reports ``unreachable`` (closed port) or ``timeout`` (a socket
that accepts and never answers) with a 2 s panel timeout.

    .venv/bin/python bench/bench_metrics.py

Prints a table; the figures in docs/performance.md come from this script.
"""

from __future__ import annotations

import asyncio
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

ROUNDS = 30


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


async def time_fetches(url: str, window: str, rounds: int) -> tuple[list[float], int]:
    from agentconsole.config import Settings
    from agentconsole.metrics.service import MetricsService

    settings = Settings()
    settings.prometheus.url = url
    svc = MetricsService(settings)
    times, failed = [], 0
    try:
        await svc.fetch_panels(window)  # warm: connection pool, lazy imports
        for _ in range(rounds):
            start = time.perf_counter()
            results = await svc.fetch_panels(window)
            times.append(time.perf_counter() - start)
            failed += sum(1 for r in results if r.error_kind not in (None, "no_data"))
    finally:
        await svc.close()
    return times, failed


async def time_failure(url: str) -> tuple[float, set[str]]:
    from agentconsole.config import Settings
    from agentconsole.metrics.service import MetricsService

    settings = Settings()
    settings.prometheus.url = url
    settings.prometheus.timeout = 2.0
    svc = MetricsService(settings)
    try:
        start = time.perf_counter()
        results = await svc.fetch_panels()
        took = time.perf_counter() - start
    finally:
        await svc.close()
    return took, {r.error_kind or "ok" for r in results}


def ms(values: list[float], q: float) -> str:
    ordered = sorted(values)
    return f"{ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000:.1f}"


def main() -> None:
    from tests.fixtures.procs import free_port
    from tests.fixtures.prometheus import hanging_socket, start_exporter, start_prometheus

    cores = os.cpu_count()
    print(f"machine: {cores} cores, {cpu_model()}, Python {platform.python_version()}")
    rows = []
    with (
        tempfile.TemporaryDirectory() as tmp,
        start_exporter() as exporter,
        start_prometheus(Path(tmp), [exporter.target]) as prom,
    ):
        prom.wait_for("count_over_time(agent_active_runs[5s]) >= 5")
        for window in ("15m", "1h", "6h", "24h"):
            times, failed = asyncio.run(time_fetches(prom.url, window, ROUNDS))
            median = f"{statistics.median(times) * 1000:.1f}"
            rows.append((f"fetch_panels {window}", median, ms(times, 0.95), str(failed)))
    took, kinds = asyncio.run(time_failure(f"http://127.0.0.1:{free_port()}"))
    rows.append(("Prometheus down", f"{took * 1000:.1f}", "-", ",".join(sorted(kinds))))
    with hanging_socket() as url:
        took, kinds = asyncio.run(time_failure(url))
    rows.append(
        ("Prometheus hung (2 s timeout)", f"{took * 1000:.1f}", "-", ",".join(sorted(kinds)))
    )

    headers = ("case", "median ms", "p95 ms", "failed panels / kinds")
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)))
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))


if __name__ == "__main__":
    main()
