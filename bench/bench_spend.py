"""What the spend report costs as tenants grow: the top N from Prometheus, never them all.

An exporter serves ``agent_cost_usd_total{tenant, model}`` for each tenant count (two models
each; tenant i spends (i + 1) × 0.001 $/s), a real Prometheus scrapes it every second, and
``forecast.spend_report(top=8)`` (two instant queries with ``topk``, the shape the Spend view
and ``agentconsole spend`` use) is timed against the alternative it replaces: asking for
every tenant's rate and spend today and ranking them in Python.

    .venv/bin/python bench/bench_spend.py [--tenants 100,2000,10000] [--rounds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import http.server
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from agentconsole.sim.benchkit import machine, table  # noqa: E402

WINDOW = "20s"


def serve(tenants: int) -> tuple[http.server.ThreadingHTTPServer, int]:
    started = time.time()
    rows = [
        (f'agent_cost_usd_total{{model="{m}",tenant="t{i:05d}"}}', (i + 1) * 0.0005)
        for i in range(tenants)
        for m in ("model-a", "model-b")
    ]

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            t = time.time() - started
            body = "".join(f"{name} {rate * t}\n" for name, rate in rows).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    class Server(http.server.ThreadingHTTPServer):
        def handle_error(self, request: object, client_address: object) -> None:
            pass

    server = Server(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, server.server_address[1]


async def measure(url: str, rounds: int) -> dict[str, object]:
    from agentconsole.config import Settings
    from agentconsole.metrics import forecast as fc
    from agentconsole.metrics.panels import render
    from agentconsole.metrics.service import MetricsService

    settings = Settings()
    settings.prometheus.url = url
    settings.prometheus.timeout = 30.0
    svc = MetricsService(settings, interval=WINDOW)
    try:
        top: list[float] = []
        shown = 0
        await fc.spend_report(svc, None, top=8)  # warm
        for _ in range(rounds):
            start = time.perf_counter()
            report = await fc.spend_report(svc, None, top=8)
            top.append(time.perf_counter() - start)
            shown = len(report.tenants)
        every: list[float] = []
        received = 0
        for _ in range(rounds):
            start = time.perf_counter()
            now = time.time()
            rates, today = await asyncio.gather(
                svc.query(render(fc.RATE_BY_TENANT, WINDOW, now), by="tenant"),
                svc.query(render(fc.TODAY_BY_TENANT, WINDOW, now), by="tenant"),
            )
            r, d = rates.labels_series, today.labels_series
            rows = [
                fc.forecast(t, d.get(t), r.get(t), 4000.0, now, window=WINDOW)
                for t in set(r) | set(d)
            ]
            sorted(rows, key=lambda f: f.rank)[:8]
            every.append(time.perf_counter() - start)
            received = len(r) + len(d)
        return {"top": top, "shown": shown, "every": every, "received": received}
    finally:
        await svc.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", default="100,2000,10000")
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    from tests.fixtures.procs import wait_until
    from tests.fixtures.prometheus import PrometheusServer, start_prometheus

    print(f"bench_spend on {machine()}")
    out = []
    for n in (int(x) for x in args.tenants.split(",")):
        server, port = serve(n)
        with (
            tempfile.TemporaryDirectory() as tmp,
            start_prometheus(Path(tmp) / "prom", [f"127.0.0.1:{port}"]) as prom,
        ):
            assert isinstance(prom, PrometheusServer)
            wait_until(lambda prom=prom: bool(prom.query("agent_cost_usd_total")), 120, "up")
            time.sleep(22)  # a full rate window of scrapes
            m = asyncio.run(measure(prom.url, args.rounds))
        server.shutdown()
        top, every = m["top"], m["every"]
        assert isinstance(top, list) and isinstance(every, list)
        out.append(
            (
                f"{n:,}",
                f"{statistics.median(top) * 1000:.1f} ms",
                str(m["shown"]),
                f"{statistics.median(every) * 1000:.1f} ms",
                f"{m['received']:,}",
            )
        )
    headers = ["tenants", "spend_report top 8", "rows", "every tenant, ranked here", "series"]
    print(table(headers, out))


if __name__ == "__main__":
    main()
