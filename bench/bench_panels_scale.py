"""Panel cost per refresh with a fleet's worth of series: raw queries vs recording rules.

An exporter serves the SDK's metric families for ``--procs`` agent processes (a ``proc``
label, as ``instance`` would be; ~34 series each: 10 / 100 / 1,000 processes of 100 agents
stand for 1,000 / 10,000 / 100,000 agents). Each process's rates are the known traffic
divided by the process count, so the panels' sums equal the tests' known values. A real
Prometheus with the shipped rules scrapes it and evaluates the rules every ``--interval``;
then ``MetricsService.fetch_panels`` (every panel, instant and range queries, 15m window,
the preset's 2m rate window) is timed reading the raw queries and reading the recording
rules, alternating, in the same run. The rules' own cost is the store's: Prometheus'
``prometheus_rule_group_last_duration_seconds`` for the panels' group, once per interval
however many consoles refresh. With ``--victoria``, the raw queries on VictoriaMetrics
behind ``/vm`` too (no rules there: vmalert is not started).

    .venv/bin/python bench/bench_panels_scale.py [--procs 10,100,1000] [--rounds 5]
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


def series(procs: int) -> list[tuple[str, float, bool]]:
    """(series text before the value, per-second rate or gauge value, is a counter)."""
    out: list[tuple[str, float, bool]] = []
    add = out.append
    total = sum(known.RUNS.values())
    for p in range(procs):
        proc = f'proc="p{p:05d}"'
        ok = f'{proc},outcome="success"'  # the run-time panels read successful runs
        for outcome, per_s in known.RUNS.items():
            add((f'agent_runs_total{{{proc},outcome="{outcome}"}}', per_s / procs, True))
        last = 0.0
        for le in known.DURATION_BUCKETS:
            cum = known.DURATION_CUMULATIVE
            last = cum.get(le, total if le > max(cum) else last)
            name = f'agent_run_duration_seconds_bucket{{{ok},le="{float(le)}"}}'
            add((name, last / procs, True))
        add((f'agent_run_duration_seconds_bucket{{{ok},le="+Inf"}}', total / procs, True))
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
        add((f"agent_runaway_total{{{proc}}}", 0.0, True))
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


SPEND_RULE = "tenant:agent_cost_usd:increase15s"
SPEND: dict[tuple[str, bool], list[float]] = {}  # (store, rules) -> spend_report seconds


async def time_store(
    url: str, rounds: int, rules: bool
) -> tuple[list[float], dict[str, float | None], set[str]]:
    from agentconsole.config import Settings
    from agentconsole.metrics.forecast import spend_report
    from agentconsole.metrics.service import MetricsService

    settings = Settings()
    settings.prometheus.url = url
    settings.prometheus.timeout = 60.0
    svc = MetricsService(settings, rules=rules)  # the preset's window: the rules' 2m
    try:
        results = await svc.fetch_panels("15m")  # warm
        times = []
        for _ in range(rounds):
            start = time.perf_counter()
            results = await svc.fetch_panels("15m")
            times.append(time.perf_counter() - start)
        recorded = {r.panel.id for r in results if r.source == "recorded"}
        # the Spend view's and `agentconsole spend`'s tenant figures (no Redis: no caps)
        spent = SPEND.setdefault((url, rules), [])
        for _ in range(rounds):
            start = time.perf_counter()
            report = await spend_report(svc, None, top=5)
            spent.append(time.perf_counter() - start)
        if report.source == "recorded":
            recorded.add("spend_report")
        return times, {r.panel.id: r.value for r in results}, recorded
    finally:
        await svc.close()


def rule_group_seconds(url: str) -> float:
    """The store's own time for one evaluation of the panels' recording rule group."""
    import json
    import urllib.request

    with urllib.request.urlopen(f"{url}/api/v1/rules?type=record", timeout=30) as r:
        groups = json.load(r)["data"]["groups"]
    names = ("agentconsole-recording", "agentconsole-spend")
    times = [g.get("evaluationTime", 0.0) for g in groups if g["name"] in names]
    return float(sum(times)) if times else float("nan")


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
    parser.add_argument("--procs", default="10,100,1000", help="agent processes, comma-separated")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--interval", default="5s", help="scrape and rule evaluation")
    parser.add_argument("--victoria", action="store_true", help="raw queries on VictoriaMetrics")
    args = parser.parse_args()
    import os

    from tests.fixtures.procs import wait_until
    from tests.fixtures.prometheus import start_prometheus
    from tests.fixtures.victoria import start_victoria

    sizes = [int(p) for p in args.procs.split(",") if p]
    interval_s = float(args.interval.rstrip("s"))
    print(f"bench_panels_scale on {machine()}; scrape and rules every {args.interval}")
    rows = []
    for procs in sizes:
        server, port = serve(procs)
        target = f"127.0.0.1:{port}"
        with tempfile.TemporaryDirectory() as tmp:
            with start_prometheus(Path(tmp) / "prom", [target], interval=args.interval) as prom:
                url = prom.url
                wait_until(lambda url=url: series_count(url) > 0, 120, "Prometheus samples")
                wait_until(lambda url=url: rule_has_data(url), 180, "rules evaluated")
                wait_until(lambda url=url: rule_has_data(url, SPEND_RULE), 60, "spend rule")
                raw_t, recorded_t = [], []
                for _ in range(2):  # alternate, so both see the same load
                    t, raw_values, _ = asyncio.run(time_store(url, args.rounds, rules=False))
                    raw_t += t
                    t, values, recorded = asyncio.run(time_store(url, args.rounds, rules=True))
                    recorded_t += t
                # the store's cost of the rules, read while no console queries it: the
                # median of a few evaluations
                evaluations = []
                for _ in range(5):
                    time.sleep(interval_s)
                    evaluations.append(rule_group_seconds(url))
                group = statistics.median(evaluations)
                count = series_count(url)
                for name, times, vals in (
                    ("Prometheus, raw queries", raw_t, raw_values),
                    (
                        f"Prometheus, recording rules ({len(recorded - {'spend_report'})} of 17"
                        f" panels{', spend report' if 'spend_report' in recorded else ''})",
                        recorded_t,
                        values,
                    ),
                ):
                    spent = SPEND.get((url, "rules" in name), [float("nan")])
                    rows.append(
                        (
                            f"{procs * 100:,}",
                            f"{count:,}",
                            name,
                            f"{statistics.median(times) * 1000:.0f} ms",
                            f"{max(times) * 1000:.0f} ms",
                            f"{statistics.median(spent) * 1000:.0f} ms",
                            f"{group * 1000:.0f} ms" if "rules" in name else "",
                            f"{vals.get('success_rate') or 0:.4f}",
                            f"{vals.get('p99_latency') or 0:.3f}",
                        )
                    )
            if args.victoria and shutil.which("victoria-metrics"):
                with start_victoria(Path(tmp) / "vm", [target]) as vm:
                    url = vm.url
                    wait_until(lambda url=url: series_count(url) > 0, 120, "VM samples")
                    time.sleep(25)
                    times, vals, _ = asyncio.run(time_store(url, args.rounds, rules=False))
                    rows.append(
                        (
                            f"{procs * 100:,}",
                            f"{series_count(url):,}",
                            "VictoriaMetrics /vm, raw queries",
                            f"{statistics.median(times) * 1000:.0f} ms",
                            f"{max(times) * 1000:.0f} ms",
                            f"{statistics.median(SPEND[(url, False)]) * 1000:.0f} ms",
                            "",
                            f"{vals.get('success_rate') or 0:.4f}",
                            f"{vals.get('p99_latency') or 0:.3f}",
                        )
                    )
        server.shutdown()
    headers = [
        "agents",
        "agent_* series",
        "panels read",
        "fetch_panels median",
        "max",
        "spend_report median",
        "rule groups eval",
        "success (0.96)",
        "p99 s (4.0)",
    ]
    print(table(headers, rows))
    print(f"load average {os.getloadavg()[0]:.1f} at the end")


def rule_has_data(url: str, rule: str = "agent:run_success_ratio:rate2m") -> bool:
    import json
    import urllib.parse
    import urllib.request

    query = urllib.parse.urlencode({"query": rule})
    with urllib.request.urlopen(f"{url}/api/v1/query?{query}", timeout=30) as r:
        return bool(json.load(r)["data"]["result"])


if __name__ == "__main__":
    main()
