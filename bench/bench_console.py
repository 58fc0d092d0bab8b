"""Console benchmark: cold start to first paint, UI-thread time per refresh, key latency.

Runs a private redis-server on a free loopback port, fills it with N agents, and drives
the real console headless (Textual's run_test). A writer process changes every agent
between refreshes, as a live fleet does.

    .venv/bin/python bench/bench_console.py            # 1,000 and 10,000 agents
    .venv/bin/python bench/bench_console.py --quick    # 1,000 only
    .venv/bin/python bench/bench_console.py --sizes 100000   # a fleet of many pages
    .venv/bin/python bench/bench_console.py --sizes 100000 --page 20000  # a bigger page

Prints a table; the figures in docs/performance.md come from this script.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PREFIX = "bench"
PAGE = 1_000  # AppOptions.agent_limit: the Agents view's page of the fleet


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_redis() -> tuple[subprocess.Popen, str]:
    port = free_port()
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return proc, f"redis://127.0.0.1:{port}/0"
        time.sleep(0.05)
    proc.kill()
    raise SystemExit("redis-server did not start")


def settings_for(url: str):
    from agentconsole.config import Settings

    s = Settings()
    s.redis.url, s.redis.prefix = url, PREFIX
    s.operator.name, s.operator.role = "bench", "admin"
    s.prometheus.url = "http://127.0.0.1:9"  # nothing listens: the panels show unreachable
    return s


async def write_fleet(url: str, n: int, generation: int) -> None:
    """Create or update ``n`` agents directly, as the SDK's heartbeats would."""
    import redis.asyncio as aioredis

    from agentconsole.control.keys import Keys

    k = Keys(PREFIX)
    r = aioredis.Redis.from_url(url)
    now = time.time()
    try:
        for start in range(0, n, 1000):
            async with r.pipeline(transaction=False) as pipe:
                for i in range(start, min(n, start + 1000)):
                    aid = f"agent-{i:05d}"
                    # a new cost order (the agents view's sort) on every write, at every
                    # fleet size: each refresh moves rows as well as changing cells
                    tokens = 1000 + generation * 50 + (i * 7919 + generation * 104729) % 5000
                    cost = tokens * 0.00001
                    part = k.partition_for(aid)
                    pipe.hset(
                        part.agent(aid),
                        mapping={
                            "id": aid,
                            "task": f"task {i % 17}",
                            "user": f"user-{i % 300}",
                            "tenant": f"tenant-{i % 12}",
                            "model": "gpt-4o" if i % 3 else "claude",
                            "started_at": str(now - 60 - i % 600),
                            "heartbeat_at": str(now),
                            "steps": str(i % 40 + generation),
                            "tokens_in": str(tokens),
                            "tokens_out": "100",
                            "cost": str(cost),
                            "status": "running",
                        },
                    )
                    pipe.zadd(part.by_heartbeat, {aid: now})
                    pipe.zadd(part.by_tokens, {aid: tokens})
                    pipe.zadd(part.by_cost, {aid: cost})
                    pipe.zadd(part.by_tenant(f"tenant-{i % 12}"), {aid: now})
                    pipe.zadd(part.by_status("running"), {aid: now})
                    pipe.zadd(part.applied(0), {aid: now})
                await pipe.execute()
    finally:
        await r.aclose()


class FleetWriter:
    """Keeps changing every agent from another process, like a live fleet heartbeating.

    A separate process, as real agents are: a writer thread here would compete with the
    console for the GIL and measure the benchmark, not the console.
    """

    def __init__(self, url: str, n: int, period: float) -> None:
        self.args = [sys.executable, __file__, "--writer", url, str(n), str(period)]
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(self.args, stdout=subprocess.DEVNULL)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(5)


def writer_main(url: str, n: int, period: float) -> None:
    generation = 1
    while True:
        asyncio.run(write_fleet(url, n, generation))
        generation += 1
        time.sleep(period)


def cold_start(url: str, view: str) -> float:
    """Seconds from spawning a fresh interpreter to the first paint of ``view`` with data."""
    code = f"""
import sys, time, asyncio
sys.path.insert(0, {str(ROOT)!r})
t0 = float(sys.argv[1])
from agentconsole.config import Settings
from agentconsole.tui.app import ConsoleApp, AppOptions
s = Settings(); s.redis.url = {url!r}; s.redis.prefix = {PREFIX!r}
s.operator.name, s.operator.role = "bench", "admin"
s.prometheus.url = "http://127.0.0.1:9"
app = ConsoleApp(s, AppOptions(start_view={view!r}, live_events=True))
async def main():
    async with app.run_test(size=(160, 50)) as pilot:
        await app.wait_for_paint({view!r})
        await pilot.pause()
        print(time.time() - t0)
asyncio.run(main())
"""
    out = subprocess.run(
        [sys.executable, "-c", code, repr(time.time())],
        capture_output=True,
        text=True,
        check=True,
        cwd=tempfile.gettempdir(),
    )
    return float(out.stdout.strip().splitlines()[-1])


async def refresh_and_keys(
    url: str, n: int, refreshes: int, presses: int, page: int = PAGE
) -> dict[str, float]:
    from agentconsole.tui.app import AppOptions, ConsoleApp

    settings = settings_for(url)
    settings.ui.refresh_seconds = 0.5
    # the Agents view's page (1,000 by default): a larger fleet is never loaded whole
    app = ConsoleApp(settings, AppOptions(start_view="agents", agent_limit=page))
    writer = FleetWriter(url, n, 0.25)
    result: dict[str, float] = {}
    async with app.run_test(size=(160, 50)):
        await app.wait_for_paint("agents", timeout=60)
        result["first_paint_ms"] = app.last_paint_seconds * 1000
        # the whole refresh cycle on the UI thread, not only the paint handler: the frames
        # rendered after it, DataTable's idle-time bookkeeping, the poll worker (same thread)
        starts: list[float] = []
        original_paint = app._paint

        def paint(message) -> None:
            if message.view_id == "agents":
                starts.append(time.thread_time())
            original_paint(message)

        app._paint = paint
        writer.start()
        paints, cpu = [], []
        count = app.paint_counts["agents"]
        for _ in range(refreshes):
            count += 1
            await app.wait_for_paint("agents", count, timeout=60)
            paints.append(app.last_paint_seconds * 1000)
            cpu.append(app.last_paint_cpu * 1000)
        await app.wait_for_paint("agents", count + 1, timeout=60)
        app._paint = original_paint
        cycles = [(b - a) * 1000 for a, b in itertools.pairwise(starts[1:])]
        result["refresh_median_ms"] = statistics.median(paints)
        result["refresh_max_ms"] = max(paints)
        result["refresh_cpu_ms"] = statistics.median(cpu)
        result["cycle_cpu_ms"] = statistics.median(cycles)
        # key presses while refreshes keep landing: key event posted -> the table's cursor
        # action ran -> the next frame written to the (headless) terminal after it
        from textual import events

        table = app.view("agents").table
        frames: list[float] = []
        handled: list[float] = []
        original_display = app._display
        original_down, original_up = table.action_cursor_down, table.action_cursor_up

        def display(screen, renderable):
            frames.append(time.perf_counter())
            return original_display(screen, renderable)

        def down() -> None:
            original_down()
            handled.append(time.perf_counter())

        def up() -> None:
            original_up()
            handled.append(time.perf_counter())

        app._display = display
        table.action_cursor_down, table.action_cursor_up = down, up
        latencies = []
        for i in range(presses):
            key = "down" if i % 2 == 0 else "up"
            seen = len(handled)
            t0 = time.perf_counter()
            app.post_message(events.Key(key, None))
            while len(handled) == seen:
                await asyncio.sleep(0.0005)
            done = handled[-1]
            while not frames or frames[-1] < done:
                await asyncio.sleep(0.0005)
            latencies.append((frames[-1] - t0) * 1000)
            await asyncio.sleep(0.037)  # spread presses over the refresh cycle
        app._display = original_display
        table.action_cursor_down, table.action_cursor_up = original_down, original_up
        latencies.sort()
        result["key_median_ms"] = statistics.median(latencies)
        result["key_p95_ms"] = latencies[int(len(latencies) * 0.95) - 1]
        result["key_max_ms"] = latencies[-1]
        # End and Home: key press -> the fleet's last (first) page painted, cursor on it
        view = app.view("agents")
        jumps: dict[str, list[float]] = {"end": [], "home": []}
        for _ in range(3):
            for key in ("end", "home"):
                count = app.paint_counts["agents"]
                t0 = time.perf_counter()
                app.post_message(events.Key(key, None))
                while True:
                    await app.wait_for_paint("agents", count + 1, timeout=60)
                    count = app.paint_counts["agents"]
                    shown = view.page  # the cursor follows its row: not checked here
                    if shown is not None and (
                        (key == "end" and not shown.has_next)
                        or (key == "home" and not shown.has_previous)
                    ):
                        break
                jumps[key].append((time.perf_counter() - t0) * 1000)
        result["end_ms"] = statistics.median(jumps["end"])
        result["home_ms"] = statistics.median(jumps["home"])
    writer.stop()
    return result


def machine() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores, {model}, Python {platform.python_version()}"


def main() -> None:
    if len(sys.argv) == 5 and sys.argv[1] == "--writer":
        writer_main(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1,000 agents only")
    parser.add_argument("--refreshes", type=int, default=10)
    parser.add_argument("--presses", type=int, default=40)
    parser.add_argument("--sizes", default="1000,10000", help="fleet sizes, comma-separated")
    parser.add_argument("--page", type=int, default=PAGE, help="the Agents view's page size")
    args = parser.parse_args()
    sizes = [1000] if args.quick else [int(s) for s in args.sizes.split(",") if s]
    proc, url = start_redis()
    rows: list[tuple[str, str, str]] = []
    try:
        asyncio.run(write_fleet(url, 1000, 0))
        starts = [cold_start(url, "agents") for _ in range(3)]
        rows.append(
            (
                "cold start → first paint (agents view, 1,000 agents)",
                f"{statistics.median(starts) * 1000:.0f} ms median of 3",
                "< 1000 ms",
            )
        )
        starts = [cold_start(url, "overview") for _ in range(3)]
        rows.append(
            (
                "cold start → first paint (overview, Prometheus down)",
                f"{statistics.median(starts) * 1000:.0f} ms median of 3",
                "< 1000 ms",
            )
        )
        per_size = {}
        for n in sizes:
            asyncio.run(write_fleet(url, n, 0))
            r = asyncio.run(refresh_and_keys(url, n, args.refreshes, args.presses, args.page))
            per_size[n] = r
            rows.append(
                (
                    f"first paint of {min(n, args.page):,} rows, {n:,} agents (UI thread)",
                    f"{r['first_paint_ms']:.0f} ms",
                    "",
                )
            )
            rows.append(
                (
                    f"UI-thread time per refresh, {n:,} agents all changed",
                    f"median {r['refresh_median_ms']:.1f} ms (CPU {r['refresh_cpu_ms']:.1f} ms), "
                    f"max {r['refresh_max_ms']:.1f} ms",
                    "< 100 ms at 10,000",
                )
            )
            rows.append(
                (
                    f"UI-thread CPU per whole refresh cycle, {n:,} agents",
                    f"median {r['cycle_cpu_ms']:.1f} ms (paint, frames, idle work)",
                    "",
                )
            )
            rows.append(
                (
                    f"key press → update during refreshes, {n:,} agents",
                    f"median {r['key_median_ms']:.1f} ms, p95 {r['key_p95_ms']:.1f} ms, "
                    f"max {r['key_max_ms']:.1f} ms",
                    "< 50 ms",
                )
            )
            rows.append(
                (
                    f"End / Home → the fleet's last / first page painted, {n:,} agents",
                    f"median {r['end_ms']:.0f} ms / {r['home_ms']:.0f} ms of 3",
                    "",
                )
            )
        if len(per_size) == 2:
            ratio = per_size[10_000]["refresh_median_ms"] / per_size[1000]["refresh_median_ms"]
            cpu = per_size[10_000]["refresh_cpu_ms"] / per_size[1000]["refresh_cpu_ms"]
            rows.append(
                (
                    "refresh time growth 1,000 → 10,000 agents",
                    f"×{ratio:.1f} wall, ×{cpu:.1f} CPU, for ×10 agents",
                    "≤ ×10 (linear)",
                )
            )
            cycle = per_size[10_000]["cycle_cpu_ms"] / per_size[1000]["cycle_cpu_ms"]
            rows.append(
                (
                    "whole-cycle CPU growth 1,000 → 10,000 agents",
                    f"×{cycle:.1f} for ×10 agents",
                    "≤ ×10 (linear)",
                )
            )
    finally:
        proc.terminate()
        proc.wait(5)
    print(f"machine: {machine()}, load average {os.getloadavg()[0]:.1f}, page {args.page:,}")
    width = max(len(r[0]) for r in rows)
    vwidth = max(len(r[1]) for r in rows)
    print(f"{'measure'.ljust(width)}  {'result'.ljust(vwidth)}  target")
    for name, value, target in rows:
        print(f"{name.ljust(width)}  {value.ljust(vwidth)}  {target}")


if __name__ == "__main__":
    main()
