"""Load benchmark: 5,000 SDK agents heartbeating against one Redis while an operator works
the console.

A private redis-server on loopback; the agents are long-lived SDK runs in child processes
(``tests/faults/heartbeat_fleet.py``: the SDK's own heartbeat loop, one pipeline per 250
agents every ``--heartbeat`` seconds); the console is the real ``ConsoleApp``, headless,
with the operator's default refresh (2 s) on 5,000 agents. A script presses keys at an
operator's pace (views, sort, cursor, a filter typed letter by letter, the kill dialog
opened and cancelled, help) for ``--seconds``.

Measured:
- key press → screen update: from posting the key event to the first frame written after
  the key's effect is visible (headless driver, so the terminal's own time is excluded);
- UI-thread wall and CPU time per refresh of the agents view (``ConsoleApp._paint``);
- Redis CPU: ``INFO cpu`` used_cpu_sys + used_cpu_user over the run, as % of one core;
- heartbeats/s actually written and the gap between two heartbeats of one agent, measured
  inside the agent processes; event-loop lag of those processes;
- the oldest heartbeat in Redis, sampled every second (worst agent staleness).

    .venv/bin/python bench/bench_load.py                      # 5,000 agents: 1 and 2 processes
    .venv/bin/python bench/bench_load.py --procs 4 --seconds 30

Prints a table; the figures in docs/performance.md come from this script.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any, ClassVar

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from agentconsole.sim.benchkit import machine, percentile, redis_server, table  # noqa: E402

PREFIX = "load"
PACE = 0.25  # seconds between two key presses: a brisk operator


def redis_cpu(url: str) -> tuple[float, int]:
    import redis

    client = redis.Redis.from_url(url)
    try:
        cpu = client.info("cpu")
        stats = client.info("stats")
        used = float(cpu["used_cpu_sys"]) + float(cpu["used_cpu_user"])
        return used, int(stats["total_commands_processed"])
    finally:
        client.close()


class OldestHeartbeat:
    """A thread sampling the age of the oldest heartbeat in Redis once a second."""

    def __init__(self, url: str) -> None:
        from agentconsole.control.keys import Keys

        self.url, self.keys = url, [p.by_heartbeat for p in Keys(PREFIX).all_partitions()]
        self.ages: list[float] = []
        self.counts: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        import redis

        client = redis.Redis.from_url(self.url)
        try:
            while not self._stop.wait(1.0):
                firsts = [client.zrange(k, 0, 0, withscores=True) for k in self.keys]
                oldest = [f[0][1] for f in firsts if f]
                if oldest:
                    self.ages.append(time.time() - min(oldest))
                self.counts.append(sum(int(client.zcard(k)) for k in self.keys))
        finally:
            client.close()

    def __enter__(self) -> OldestHeartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)


class Keys:
    """The operator's script: each step is a key and what shows that it took effect."""

    CHARS: ClassVar[dict[str, str]] = {
        "slash": "/",
        "escape": "\x1b",
        "enter": "\r",
        "question_mark": "?",
    }

    def __init__(self, app: Any) -> None:
        self.app = app

    def script(self) -> list[tuple[str, str, Any]]:
        from agentconsole.tui.help import HelpScreen
        from agentconsole.tui.modals import ConfirmScreen

        app = self.app
        agents = app.view("agents").table
        bar = app.query_one("#cmdbar")
        sort_state = lambda: (agents.sort_column, agents.sort_reverse)  # noqa: E731
        steps: list[tuple[str, str, Any]] = [("2 agents", "2", lambda: app.current == "agents")]
        before_sort: list[Any] = []
        steps += [
            ("s sort", "s", lambda: sort_state() != before_sort[-1]),
            ("cursor", "cursor", None),
            ("/ open filter", "slash", lambda: bar.has_class("active")),
        ]
        for n, ch in enumerate("acme", 1):
            steps.append((f"type {ch!r}", ch, lambda n=n: agents.filter_text == "acme"[:n]))
        steps += [
            ("enter", "enter", lambda: not bar.has_class("active")),
            ("esc clear filter", "escape", lambda: agents.filter_text == ""),
            ("k kill dialog", "k", lambda: isinstance(app.screen, ConfirmScreen)),
            ("esc cancel kill", "escape", lambda: not isinstance(app.screen, ConfirmScreen)),
            ("3 flags", "3", lambda: app.current == "flags"),
            ("5 audit", "5", lambda: app.current == "audit"),
            ("1 overview", "1", lambda: app.current == "overview"),
            ("? help", "question_mark", lambda: isinstance(app.screen, HelpScreen)),
            ("esc close help", "escape", lambda: not isinstance(app.screen, HelpScreen)),
        ]
        self.before_sort = before_sort
        return steps


async def operator(app: Any, seconds: float) -> tuple[dict[str, list[float]], int]:
    """Press keys for ``seconds``; per key name, latencies in ms, and how many timed out.

    Whole rounds of the script only, so the console ends on the overview, nothing open.
    """
    from textual import events

    frames: list[float] = []
    original = app._display

    def display(screen: Any, renderable: Any) -> None:
        frames.append(time.perf_counter())
        original(screen, renderable)

    app._display = display
    keys = Keys(app)
    steps = keys.script()
    agents = app.view("agents").table
    latencies: dict[str, list[float]] = {}
    timeouts = 0
    end = time.monotonic() + seconds
    try:
        while time.monotonic() < end:
            for label, key, condition in steps:
                if key == "s":
                    keys.before_sort.append((agents.sort_column, agents.sort_reverse))
                if key == "cursor":
                    row = agents.cursor_row
                    key = "up" if row == agents.row_count - 1 else "down"
                    condition = lambda row=row: agents.cursor_row != row  # noqa: E731
                t0 = time.perf_counter()
                app.post_message(
                    events.Key(key, Keys.CHARS.get(key, key if len(key) == 1 else None))
                )
                deadline = t0 + 5.0
                while not condition() and time.perf_counter() < deadline:
                    await asyncio.sleep(0.0005)
                seen = time.perf_counter()
                while (not frames or frames[-1] < seen) and time.perf_counter() < deadline:
                    await asyncio.sleep(0.0005)
                if time.perf_counter() >= deadline:
                    timeouts += 1
                else:
                    latencies.setdefault(label, []).append((frames[-1] - t0) * 1000)
                await asyncio.sleep(PACE)
    finally:
        app._display = original
    return latencies, timeouts


async def console_session(url: str, agents: int, seconds: float) -> dict[str, Any]:
    from agentconsole.sim.benchkit import settings_for
    from agentconsole.tui.app import AppOptions, ConsoleApp

    settings = settings_for(url, PREFIX)
    app = ConsoleApp(settings, AppOptions(start_view="agents", metrics=False))
    paints: list[tuple[str, float, float]] = []
    totals: list[int] = []
    original_paint = app._paint

    def paint(message: Any) -> None:
        original_paint(message)
        paints.append((message.view_id, app.last_paint_seconds, app.last_paint_cpu))
        if message.view_id == "agents":
            totals.append(app.view("agents").total)

    app._paint = paint
    async with app.run_test(size=(160, 50)):
        await app.wait_for_paint("agents", timeout=60)
        paints.clear()
        totals.clear()
        latencies, timeouts = await operator(app, seconds)
        errors = [t for t in app.toasts if "fail" in t or "unreachable" in t]
    return {
        "latencies": latencies,
        "timeouts": timeouts,
        "paints": paints,
        "totals": totals,
        "errors": errors,
        "agents": agents,
    }


def run_one(agents: int, procs: int, seconds: float, heartbeat: float) -> dict[str, Any]:
    from tests.faults.heartbeat_fleet import FleetProcesses

    with redis_server() as url:
        fleet = FleetProcesses(
            url, PREFIX, agents, procs, seconds=seconds + 120, heartbeat=heartbeat
        )
        fleet.start()
        try:
            ready = fleet.wait_ready()
            if sum(r["ready"] for r in ready) != agents:
                raise SystemExit(f"only {ready} of {agents} agents registered")
            time.sleep(2 * heartbeat)  # a steady state: every agent has heartbeated
            cpu0, cmds0 = redis_cpu(url)
            t0 = time.monotonic()
            with OldestHeartbeat(url) as oldest:
                session = asyncio.run(console_session(url, agents, seconds))
            wall = time.monotonic() - t0
            cpu1, cmds1 = redis_cpu(url)
        finally:
            summaries = fleet.stop()
    session.update(
        procs=procs,
        redis_cpu=(cpu1 - cpu0) / wall,
        redis_cmds=(cmds1 - cmds0) / wall,
        summaries=summaries,
        oldest=oldest.ages,
        counts=oldest.counts,
    )
    return session


def fmt_ms(values: list[float]) -> str:
    if not values:
        return "-"
    return f"{statistics.median(values):.1f} / {percentile(values, 0.95):.1f} / {max(values):.1f}"


def report(results: list[dict[str, Any]], heartbeat: float) -> None:
    names = [f"{r['agents']:,} agents, {r['procs']} proc" for r in results]
    rows: list[list[str]] = []

    def row(label: str, values: list[str]) -> None:
        rows.append([label, *values])

    every = [[v for vs in r["latencies"].values() for v in vs] for r in results]
    row("key → screen, all keys: p50 / p95 / max ms", [fmt_ms(v) for v in every])
    row(
        "key presses measured (timed out)",
        [f"{len(v)} ({r['timeouts']})" for v, r in zip(every, results, strict=True)],
    )
    ag = [[p[1] * 1000 for p in r["paints"] if p[0] == "agents"] for r in results]
    row("agents refresh, UI thread: p50 / p95 / max ms", [fmt_ms(v) for v in ag])
    cpu = [[p[2] * 1000 for p in r["paints"] if p[0] == "agents"] for r in results]
    row(
        "agents refresh, UI-thread CPU: p50 ms",
        [f"{statistics.median(v):.1f}" if v else "-" for v in cpu],
    )
    row("agents refreshes painted", [str(len(v)) for v in ag])
    row(
        "agents counted by the console (min..max)",
        [f"{min(r['totals'])}..{max(r['totals'])}" if r["totals"] else "-" for r in results],
    )
    row("Redis CPU, % of one core", [f"{100 * r['redis_cpu']:.1f} %" for r in results])
    row("Redis commands/s", [f"{r['redis_cmds']:,.0f}" for r in results])
    rate = [sum(s["heartbeats_per_s"] for s in r["summaries"]) for r in results]
    row(
        f"heartbeats/s written (ideal {results[0]['agents'] / heartbeat:,.0f})",
        [f"{v:,.0f}" for v in rate],
    )

    def gap(r: dict[str, Any], q: str) -> float:
        return max(s["gap"][q] for s in r["summaries"])

    row(
        f"heartbeat gap per agent p50 / p99 / max s (interval {heartbeat:g})",
        [f"{gap(r, 'p50'):.2f} / {gap(r, 'p99'):.2f} / {gap(r, 'max'):.2f}" for r in results],
    )
    row(
        "oldest heartbeat in Redis, median / max s",
        [
            f"{statistics.median(r['oldest']):.2f} / {max(r['oldest']):.2f}" if r["oldest"] else "-"
            for r in results
        ],
    )
    row(
        "agent process event-loop lag p99 / max ms",
        [
            f"{1000 * max(s['lag']['p99'] for s in r['summaries']):.0f} / "
            f"{1000 * max(s['lag']['max'] for s in r['summaries']):.0f}"
            for r in results
        ],
    )
    row(
        "agent processes CPU, % of one core (sum)",
        [f"{100 * sum(s['cpu_share'] for s in r['summaries']):.0f} %" for r in results],
    )
    row(
        "errors (runs / writes / console toasts)",
        [
            f"{sum(s['run_errors'] for s in r['summaries'])} / "
            f"{sum(s['write_errors'] for s in r['summaries'])} / {len(r['errors'])}"
            for r in results
        ],
    )
    print(f"machine: {machine()}")
    print(table(["measure", *names], rows))
    print()
    keys = list(dict.fromkeys(k for r in results for k in r["latencies"]))
    key_rows = [[k, *[fmt_ms(r["latencies"].get(k, [])) for r in results]] for k in keys]
    print(table(["key: p50 / p95 / max ms", *names], key_rows))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=5000)
    parser.add_argument("--procs", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--heartbeat", type=float, default=2.0)
    args = parser.parse_args()
    results = [run_one(args.agents, p, args.seconds, args.heartbeat) for p in args.procs]
    report(results, args.heartbeat)


if __name__ == "__main__":
    main()
