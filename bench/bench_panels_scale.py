"""Panel cost per refresh with a fleet's worth of series, on Prometheus and VictoriaMetrics.

An exporter serves the SDK's metric families for ``--procs`` agent processes (a ``proc``
label, as ``instance`` would be; ~34 series each: 1,000 processes of 100 agents stand for
100,000 agents). Each process's rates are the known traffic divided by the process count,
so the panels' sums equal the tests' known values. A real Prometheus (with the shipped
rules) and, when Debian's ``victoria-metrics`` is installed, a VictoriaMetrics behind
``/vm`` scrape it every second; then ``MetricsService.fetch_panels`` (every panel, instant
and range queries) is timed on each.
The panels aggregate (no per-agent series on screen), so what grows is the store's work
summing the series, not what the console receives.

    .venv/bin/python bench/bench_panels_scale.py [--procs 1000] [--rounds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import http.server
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from agentconsole.sim.benchkit import machine, table  # noqa: E402
from tests.fixtures import prometheus as known  # noqa: E402

INTERVAL = "20s"


def series(procs: int) -> list[tuple[str, float, bool]]:
    """(series text before the value, per-second rate or gauge value, is a counter)."""
    out: list[tuple[str, float, bool]] = []
    add = out.append
    total = sum(known.RUNS.values())
    for p in range(procs):
        proc = f'proc="p{p:05d}"'
        for outcome, per_s in known.RUNS.items():
            add((f'agent_runs_total{{{proc},outcome="{outcome}"}}', per_s / procs, True))
        last = 0.0
        for le in known.DURATION_BUCKETS:
            cum = known.DURATION_CUMULATIVE
            last = cum.get(le, total if le > max(cum) else last)
            name = f'agent_run_duration_seconds_bucket{{{proc},le="{float(le)}"}}'
            add((name, last / procs, True))
        add((f'agent_run_duration_seconds_bucket{{{proc},le="+Inf"}}', total / procs, True))
        add((f"agent_run_duration_seconds_count{{{proc}}}", total / procs, True))
        add((f"agent_run_duration_seconds_sum{{{proc}}}", total * 1.2 / procs, True))
        for (dep, outcome), per_s in known.CALLS.items():
            labels = f'{proc},dependency="{dep}",outcome="{outcome}"'
            add((f"agent_dependency_calls_total{{{labels}}}", per_s / procs, True))
        for (kind, model, tenant), per_s in known.TOKENS.items():
            labels = f'{proc},type="{kind}",model="{model}",tenant="{tenant}"'
            add((f"agent_tokens_total{{{labels}}}", per_s / procs, True))
        for (model, tenant), per_s in known.COST.items():
            labels = f'{proc},model="{model}",tenant="{tenant}"'
            add((f"agent_cost_usd_total{{{labels}}}", per_s / procs, True))
        for dep, state in known.BREAKERS.items():
            value = state if p == 0 else 0.0  # one process sees the breaker open
            add((f'agent_breaker_state{{{proc},dependency="{dep}"}}', value, False))
        add((f"agent_active_runs{{{proc}}}", known.ACTIVE_RUNS / procs, False))
        for kind in ("kill_switch", "global_stop", "tenant_stop"):
            add((f'agent_controls_engaged{{{proc},kind="{kind}"}}', 0.0, False))
    return out


def exposition(rows: list[tuple[str, float, bool]], t: float) -> bytes:
    """The text format at ``t`` seconds since start: counters are rate × t."""
    return "".join(f"{name} {v * t if counter else v}\n" for name, v, counter in rows).encode()


def serve(procs: int) -> tuple[http.server.ThreadingHTTPServer, int]:
    started, rows = time.time(), series(procs)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = exposition(rows, time.time() - started)
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    class Server(http.server.ThreadingHTTPServer):
        def handle_error(self, request: object, client_address: object) -> None:
            pass  # a scrape given up by the store (timeout): it scrapes again

    server = Server(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, server.server_address[1]


async def time_store(url: str, rounds: int) -> tuple[list[float], dict[str, float | None]]:
    from agentconsole.config import Settings
    from agentconsole.metrics.service import MetricsService

    settings = Settings()
    settings.prometheus.url = url
    settings.prometheus.timeout = 30.0
    svc = MetricsService(settings, interval=INTERVAL)
    try:
        results = await svc.fetch_panels("15m")  # warm
        times = []
        for _ in range(rounds):
            start = time.perf_counter()
            results = await svc.fetch_panels("15m")
            times.append(time.perf_counter() - start)
        return times, {r.panel.id: r.value for r in results}
    finally:
        await svc.close()


def series_count(url: str) -> int:
    import json
    import urllib.parse
    import urllib.request

    query = urllib.parse.urlencode({"query": 'count({__name__=~"agent_.*"})'})
    with urllib.request.urlopen(f"{url}/api/v1/query?{query}", timeout=30) as r:
        result = json.load(r)["data"]["result"]
    return int(float(result[0]["value"][1])) if result else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--procs", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    from tests.fixtures.procs import wait_until
    from tests.fixtures.prometheus import start_prometheus
    from tests.fixtures.victoria import start_victoria

    print(f"bench_panels_scale on {machine()}; {args.procs:,} processes' series")
    server, port = serve(args.procs)
    target = f"127.0.0.1:{port}"
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        stores = [("Prometheus", lambda: start_prometheus(Path(tmp) / "prom", [target]))]
        if shutil.which("victoria-metrics"):
            vm = ("VictoriaMetrics /vm", lambda: start_victoria(Path(tmp) / "vm", [target]))
            stores.append(vm)
        for name, start in stores:
            with start() as store:
                url = store.url
                wait_until(lambda url=url: series_count(url) > 0, 120, f"{name} samples")
                time.sleep(25)  # a full rate window of scrapes
                times, values = asyncio.run(time_store(url, args.rounds))
                rows.append(
                    (
                        name,
                        f"{series_count(url):,}",
                        f"{statistics.median(times) * 1000:.0f} ms",
                        f"{max(times) * 1000:.0f} ms",
                        f"{values.get('error_rate') or 0:.4f}",
                        f"{values.get('throughput') or 0:.1f}",
                    )
                )
    server.shutdown()
    headers = ["store", "agent_* series", "fetch_panels median", "max", "error_rate", "runs/s"]
    print(table(headers, rows))


if __name__ == "__main__":
    main()
