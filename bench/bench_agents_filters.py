"""The Agents view's filters and sorts: what one page read costs at 1k / 10k / 100k agents.

One command, its own redis-server. The registry is filled with ``Registry.write_many``
(tenants of 250 agents; 1 in 20 finished, 1 in 100 failed, 1 in 50 silent past
``dead_after``), then each page the view can ask for is read through the public API the
view's loader calls (``Registry.page`` and the page's hashes), median of ``--repeat``:
milliseconds, and Redis CPU per read (``used_cpu_user + used_cpu_sys``, so the server's
work shows apart from Python's).

    .venv/bin/python bench/bench_agents_filters.py [--sizes 1000,10000,100000] [--page 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from agentconsole.sim.benchkit import machine, redis_server, table  # noqa: E402

TENANT_SIZE = 250


def records(n: int, now: float) -> list:
    from agentconsole.control.registry import AgentRecord

    out = []
    for i in range(n):
        status = "finished" if i % 20 == 7 else "failed" if i % 100 == 3 else "running"
        out.append(
            AgentRecord(
                id=f"agent-{i:07d}",
                task="bench",
                user=f"user-{i % 997}",
                tenant=f"tenant-{i // TENANT_SIZE:05d}",
                model="gpt-bench",
                steps=(i * 31) % 400,
                tokens_in=(i * 7919) % 100_000,
                cost=((i * 7919) % 100_000) / 10_000,
                started_at=now - (i * 104729) % 86_400,
                status=status,
            )
        )
    return out


def cases(tenant: str) -> list[tuple[str, dict]]:
    """(label, Registry.page keyword arguments): what the view asks for."""
    from agentconsole.control.registry import ORDERS

    both = {"order": "cost", "tenant": tenant, "status": "running"}
    out: list[tuple[str, dict]] = [("first page by cost", {"order": "cost"})]
    for order in ("steps", "started"):
        if order in ORDERS:
            out.append((f"first page by {order}", {"order": order}))
    out += [
        ("status:running by cost", {"order": "cost", "status": "running"}),
        ("status:finished by cost", {"order": "cost", "status": "finished"}),
        ("status:dead by cost", {"order": "cost", "status": "dead"}),
        (f"tenant:{tenant}", {"order": "cost", "tenant": tenant}),
        (f"tenant:{tenant} status:running", both),
        ("status:running, last page", {"order": "cost", "status": "running", "where": "last"}),
    ]
    return out


async def cpu(plane) -> float:
    info = await plane.redis.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


async def measure(url: str, n: int, size: int, repeat: int) -> list[dict[str, object]]:
    from agentconsole.control import ControlPlane
    from agentconsole.sim.benchkit import settings_for

    settings = settings_for(url, f"filters{n}")
    settings.registry.dead_after_seconds = 600
    plane = ControlPlane.from_settings(settings)
    out = []
    try:
        await plane.check_schema()
        now = time.time()
        rows = records(n, now)
        for start in range(0, n, 1000):
            await plane.agents.write_many(rows[start : start + 1000], at=now)
        silent = [r for i, r in enumerate(rows) if i % 50 == 11 and r.status == "running"]
        for start in range(0, len(silent), 1000):
            await plane.agents.write_many(silent[start : start + 1000], at=now - 3600)
        for label, kwargs in cases("tenant-00003"):
            kwargs = dict(kwargs)
            order = kwargs.pop("order")
            times, cpus, shown = [], [], 0
            for _ in range(repeat):
                before = await cpu(plane)
                started = time.perf_counter()
                page = await plane.agents.page(order, size, **kwargs)
                recs = await plane.agents.get_many(page.ids)
                if "status" in kwargs:
                    recs = [r for r in recs if r.status == kwargs["status"]]
                times.append((time.perf_counter() - started) * 1000)
                cpus.append((await cpu(plane) - before) * 1000)
                shown = len(recs)
            out.append(
                {
                    "agents": n,
                    "read": label,
                    "ms": statistics.median(times),
                    "cpu_ms": statistics.median(cpus),
                    "shown": shown,
                }
            )
        await plane.redis.flushdb()
    finally:
        await plane.close()
    return out


async def run_all(url: str, sizes: list[int], size: int, repeat: int) -> list[dict[str, object]]:
    results = []
    for n in sizes:
        results += await measure(url, n, size, repeat)
        print(f"  {n:,} agents done", file=sys.stderr)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--page", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s]
    print(f"bench_agents_filters on {machine()}, load average {os.getloadavg()[0]:.2f}")
    with redis_server() as url:
        results = asyncio.run(run_all(url, sizes, args.page, args.repeat))
    headers = ["agents", "page read", "ms (median)", "Redis CPU ms", "rows shown"]
    rows = [
        [f"{r['agents']:,}", r["read"], f"{r['ms']:.1f}", f"{r['cpu_ms']:.1f}", str(r["shown"])]
        for r in results
    ]
    print(table(headers, rows))


if __name__ == "__main__":
    main()
