"""Console under a broken Prometheus: key-press latency while it is killed, hangs, or
answers after the panel timeout, with the time to notice and to recover.

A real prometheus (1 s scrape, the shipped rules) scrapes the tests' known-traffic
exporter; a stalling proxy of ours (``tests/faults/servers.py``) sits in front of it for
the hang and slow cases; 500 SDK agents heartbeat so the agents view has rows. Exporter,
proxy, Redis and agents each run in their own process: only the console runs in the
measuring one. Each case is one console session (headless ``ConsoleApp`` on the overview, 2 s
panel timeout, 1 s refresh): wait for healthy panels, break Prometheus, time until every
panel reports the fault, run the operator's key script of ``bench/bench_load.py`` for
``--seconds``, repair, and time until the panels are healthy again.

    .venv/bin/python bench/bench_console_faults.py [--seconds 20]

Prints a table; the figures in docs/performance.md come from this script.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench_load import PREFIX, fmt_ms, operator  # noqa: E402

from agentconsole.sim.benchkit import machine, redis_server, table  # noqa: E402

PANEL_TIMEOUT = 2.0
AGENTS = 500


def _cards(app: Any) -> list[str]:
    return [str(c.render()) for c in app.view("overview").query(".panel")]


def _all_say(app: Any, kind: str) -> bool:
    cards = _cards(app)
    return bool(cards) and all(kind in c for c in cards)


def _healthy(app: Any) -> bool:
    cards = _cards(app)
    bad = ("unreachable", "timeout", "error")
    return (
        bool(cards)
        and app.prometheus_health.ok is True
        and not any(w in c.split("\n")[-1] for c in cards for w in bad)
    )


async def _until(condition: Any, timeout: float) -> float:
    """Seconds until ``condition()`` holds (polled every 10 ms); inf if it never did."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            return float("inf")
        await asyncio.sleep(0.01)
    return time.monotonic() - started


async def session(
    url: str, prom_url: str, case: str, seconds: float, breaker: Any, repair: Any
) -> dict[str, Any]:
    from agentconsole.sim.benchkit import settings_for
    from agentconsole.tui.app import AppOptions, ConsoleApp

    settings = settings_for(url, PREFIX)
    settings.prometheus.url = prom_url
    settings.prometheus.timeout = PANEL_TIMEOUT
    settings.ui.refresh_seconds = 1.0
    app = ConsoleApp(settings, AppOptions(start_view="overview", metrics=True))
    kind = {"killed": "unreachable", "hanging": "timeout", "slow": "timeout"}.get(case)
    out: dict[str, Any] = {"case": case, "kind": kind or "ok"}
    async with app.run_test(size=(160, 50)):
        await app.wait_for_paint("overview", timeout=30)
        if await _until(lambda: _healthy(app), 30) == float("inf"):
            raise SystemExit(f"{case}: the panels never became healthy: {_cards(app)}")
        if kind is not None:
            breaker()
            out["detect"] = await _until(lambda: _all_say(app, kind), 30)
        latencies, timeouts = await operator(app, seconds)
        out["latencies"] = [v for vs in latencies.values() for v in vs]
        out["per_key"] = latencies
        out["timeouts"] = timeouts
        if kind is not None:
            assert app.current == "overview"  # the script ends there
            # not in a worker thread: PR_SET_PDEATHSIG would kill the restarted Prometheus
            # when that thread exits
            repair()
            out["recover"] = await _until(lambda: _healthy(app), 60)
        out["toasts"] = [t for t in app.toasts if "Prometheus" in t]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--cases", nargs="+", default=["healthy", "killed", "hanging", "slow"])
    args = parser.parse_args()

    from tests.faults.heartbeat_fleet import FleetProcesses
    from tests.faults.servers import ExporterProcess, ProxyProcess, RestartablePrometheus
    from tests.fixtures.procs import wait_until

    results = []
    with (
        tempfile.TemporaryDirectory() as tmp,
        redis_server() as url,
        ExporterProcess() as exporter,
    ):
        prom = RestartablePrometheus(Path(tmp), [exporter.target])
        prom.start()
        fleet = FleetProcesses(url, PREFIX, AGENTS, 1, seconds=3600)
        fleet.start()
        try:
            fleet.wait_ready()
            wait_until(prom.has_samples, 30, "five scrapes in Prometheus")
            with ProxyProcess(prom.url) as proxy:
                cases = [
                    ("healthy", proxy.url, None, None),
                    ("killed", prom.url, prom.kill, prom.start),
                    ("hanging", proxy.url, lambda: proxy.set("hang"), lambda: proxy.set("pass")),
                    (
                        "slow",
                        proxy.url,
                        lambda: proxy.set("slow", PANEL_TIMEOUT + 1.0),
                        lambda: proxy.set("pass"),
                    ),
                ]
                for case, prom_url, breaker, repair in cases:
                    if case not in args.cases:
                        continue
                    results.append(
                        asyncio.run(session(url, prom_url, case, args.seconds, breaker, repair))
                    )
        finally:
            fleet.stop()
            prom.stop()

    def secs(r: dict[str, Any], key: str) -> str:
        return f"{r[key]:.1f}" if key in r else "-"

    rows = [
        [
            r["case"],
            r["kind"],
            fmt_ms(r["latencies"]),
            f"{len(r['latencies'])} ({r['timeouts']})",
            secs(r, "detect"),
            secs(r, "recover"),
            str(len(r["toasts"])),
        ]
        for r in results
    ]
    print(f"machine: {machine()}; panel timeout {PANEL_TIMEOUT:g} s, refresh 1 s, {AGENTS} agents")
    print(
        table(
            [
                "Prometheus",
                "panels say",
                "key → screen p50 / p95 / max ms",
                "keys (timed out)",
                "noticed s",
                "recovered s",
                "toasts",
            ],
            rows,
        )
    )
    print()
    keys = list(dict.fromkeys(k for r in results for k in r["per_key"]))
    key_rows = [[k, *[fmt_ms(r["per_key"].get(k, [])) for r in results]] for k in keys]
    print(table(["key: p50 / p95 / max ms", *[r["case"] for r in results]], key_rows))


if __name__ == "__main__":
    main()
