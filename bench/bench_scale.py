"""Fleet scale: what an operator read or action costs at 1k / 10k / 100k registered agents.

One command, its own redis-server (and, with ``--cluster``, its own 3-master Redis Cluster).
The registry is filled with the control plane's own ``Registry.write_many`` (tenants of 250
agents), then each operator read and action is timed through the public API:

- kill one tenant (250 agents): ``Kills.kill(tenant=...)`` returns, with the affected list
- ``Kills.affected`` for that tenant
- global stop: ``Kills.kill(everything=True)`` returns, with every running agent listed
- header counts (``Registry.applied_counts``) and the agents count
- top 50 by cost (``Registry.list(order="cost", limit=50)``)
- Redis memory (``used_memory`` after the fill minus before), per agent

Then heartbeat throughput: the SDK's batched heartbeat (``write_many`` with the heartbeat
fields, 250 records per pipeline, no TTL renewal) five times over the whole fleet, reported
as heartbeats per second of Redis CPU (``used_cpu_user + used_cpu_sys`` before and after):
how many one Redis core absorbs. Measured both ways in the same run: every field and index
member each beat, and only what changed (the SDK's ``WriteMemo``), with a tenth of the
agents having made a model call since their last beat. On a cluster the CPU is summed over
the masters, and so are the commands.

    .venv/bin/python bench/bench_scale.py [--sizes 1000,10000,100000] [--repeat 5] [--cluster]
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

from agentconsole.sim.benchkit import machine, redis_cluster, redis_server, table  # noqa: E402

TENANT_SIZE = 250
FILL_CHUNK = 1000
BEAT_ROUNDS = 5


def records(n: int) -> list:
    from agentconsole.control.registry import AgentRecord

    return [
        AgentRecord(
            id=f"agent-{i:07d}",
            task="bench",
            user=f"user-{i % 997}",
            tenant=f"tenant-{i // TENANT_SIZE:05d}",
            model="gpt-bench",
            host="bench-host",
            pid=1000 + i % 50,
            steps=i % 40,
            tokens_in=(i * 7919) % 100_000,
            tokens_out=(i * 104729) % 20_000,
            cost=((i * 7919) % 100_000) / 10_000,
        )
        for i in range(n)
    ]


async def fill(plane, rows: list) -> None:
    for start in range(0, len(rows), FILL_CHUNK):
        await plane.agents.write_many(rows[start : start + FILL_CHUNK])


async def used(plane, section: str, *names: str) -> float:
    """Summed over every master when the plane talks to a cluster."""
    from redis.asyncio.cluster import RedisCluster

    if isinstance(plane.redis, RedisCluster):
        info = await plane.redis.info(section, target_nodes=RedisCluster.PRIMARIES)
        nodes = info.values() if names[0] not in info else [info]
        return sum(sum(float(node.get(n, 0)) for n in names) for node in nodes)
    info = await plane.redis.info(section)
    return sum(float(info.get(n, 0)) for n in names)


async def timed(coro_fn, repeat: int) -> tuple[float, object]:
    """Median milliseconds of ``repeat`` calls, and the last result."""
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = await coro_fn()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), result


async def heartbeats(plane, rows: list) -> dict[str, float]:
    """The SDK's batched heartbeat, both ways in the same run: every field and index member
    each beat (the previous write), and only what changed (``WriteMemo``, what the SDK
    does). Each round is stamped one heartbeat interval after the last, as a live fleet's
    are, and a tenth of the agents (a different tenth each round) took a step and a model
    call since the last beat; the rest only report that they are alive."""
    from agentconsole.agent.runtime import WRITE_CHUNK
    from agentconsole.control.registry import HEARTBEAT_FIELDS, WriteMemo

    n = len(rows)
    beat = plane.settings.registry.heartbeat_seconds
    memo = WriteMemo()
    clock = time.time()
    out: dict[str, float] = {}
    for label, use in (("all", None), ("changed", memo)):
        for start in range(0, n, WRITE_CHUNK):  # whole rows first, as the SDK registers
            await plane.agents.write_many(rows[start : start + WRITE_CHUNK], memo=memo)
        cpu_before = await used(plane, "cpu", "used_cpu_user", "used_cpu_sys")
        calls_before = await commands(plane)
        started = time.perf_counter()
        for k in range(BEAT_ROUNDS):
            clock += beat
            for r in rows[k % 10 :: 10]:
                r.steps, r.tokens_in, r.cost = r.steps + 1, r.tokens_in + 500, r.cost + 0.01
            for start in range(0, n, WRITE_CHUNK):
                chunk = rows[start : start + WRITE_CHUNK]
                # between TTL renewals, as the SDK's heartbeat loop writes
                await plane.agents.write_many(
                    chunk, HEARTBEAT_FIELDS, refresh_ttl=False, at=clock, memo=use
                )
        wall = time.perf_counter() - started
        cpu = await used(plane, "cpu", "used_cpu_user", "used_cpu_sys") - cpu_before
        calls = await commands(plane) - calls_before
        out[f"beats_per_cpu_s_{label}"] = BEAT_ROUNDS * n / cpu if cpu > 0 else float("inf")
        out[f"beats_per_wall_s_{label}"] = BEAT_ROUNDS * n / wall
        out[f"commands_per_beat_{label}"] = calls / (BEAT_ROUNDS * n)
    return out


async def commands(plane) -> float:
    """Commands Redis has run (every master's, on a cluster)."""
    return await used(plane, "stats", "total_commands_processed")


async def measure(url: str, n: int, repeat: int) -> dict[str, object]:
    from agentconsole.control import ControlPlane
    from agentconsole.sim.benchkit import settings_for

    settings = settings_for(url, f"scale{n}")
    # the fleet stands for live agents however long a busy machine takes to fill it
    settings.registry.dead_after_seconds = 3600
    plane = ControlPlane.from_settings(settings)
    try:
        await plane.check_schema()
        mem_before = await used(plane, "memory", "used_memory")
        rows = records(n)
        started = time.perf_counter()
        await fill(plane, rows)
        fill_s = time.perf_counter() - started
        mem_after = await used(plane, "memory", "used_memory")
        tenants = [f"tenant-{t:05d}" for t in range(n // TENANT_SIZE)]

        kill_times, listed = [], 0
        for tenant in tenants[:repeat]:
            started = time.perf_counter()
            outcome = await plane.kills.kill(tenant=tenant, reason="bench")
            kill_times.append((time.perf_counter() - started) * 1000)
            listed = len(outcome.agents)
        target = f"tenant:{tenants[0]}"
        affected_ms, affected = await timed(lambda: plane.kills.affected(target), repeat)
        for tenant in tenants[:repeat]:
            await plane.kills.lift(f"tenant:{tenant}", reason="bench")
        counts_ms, counts = await timed(plane.agents.applied_counts, repeat * 4)
        top_ms, top = await timed(lambda: plane.agents.list(order="cost", limit=50), repeat)

        started = time.perf_counter()
        stop = await plane.kills.kill(everything=True, reason="bench")
        stop_ms = (time.perf_counter() - started) * 1000
        await plane.kills.lift("all", reason="bench")

        beats = await heartbeats(plane, rows)
        return {
            "agents": n,
            "fill_s": fill_s,
            "kill_tenant_ms": statistics.median(kill_times),
            "kill_listed": listed,
            "affected_ms": affected_ms,
            "affected": len(affected),  # type: ignore[arg-type]
            "stop_ms": stop_ms,
            "stop_listed": len(stop.agents),
            "counts_ms": counts_ms,
            "counts": counts,
            "top_ms": top_ms,
            "top": len(top),  # type: ignore[arg-type]
            "mem_mb": (mem_after - mem_before) / 1e6,
            "bytes_per_agent": (mem_after - mem_before) / n,
            **beats,
        }
    finally:
        await plane.close()


def report(title: str, results: list[dict[str, object]]) -> None:
    print(f"\n{title}")
    headers = [
        "agents",
        "kill tenant (250), returns",
        "Kills.affected (tenant)",
        "global stop, returns",
        "header counts",
        "top 50 by cost",
        "Redis memory",
        "per agent",
        "heartbeats / Redis CPU s: all, what changed",
        "commands / heartbeat: all, changed",
        "heartbeats / s (1 client): all, changed",
    ]
    rows = []
    for r in results:
        rows.append(
            [
                f"{r['agents']:,}",
                f"{r['kill_tenant_ms']:.1f} ms ({r['kill_listed']} listed)",
                f"{r['affected_ms']:.1f} ms ({r['affected']})",
                f"{r['stop_ms']:.0f} ms ({r['stop_listed']:,} listed)",
                f"{r['counts_ms']:.2f} ms",
                f"{r['top_ms']:.1f} ms",
                f"{r['mem_mb']:.1f} MB",
                f"{r['bytes_per_agent']:.0f} B",
                f"{r['beats_per_cpu_s_all']:,.0f}, {r['beats_per_cpu_s_changed']:,.0f}",
                f"{r['commands_per_beat_all']:.2f}, {r['commands_per_beat_changed']:.2f}",
                f"{r['beats_per_wall_s_all']:,.0f}, {r['beats_per_wall_s_changed']:,.0f}",
            ]
        )
    print(table(headers, rows))


async def run_all(url: str, sizes: list[int], repeat: int) -> list[dict[str, object]]:
    results = []
    for n in sizes:
        results.append(await measure(url, n, repeat))
        print(f"  {n:,} agents done (fill {results[-1]['fill_s']:.1f} s)", file=sys.stderr)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--cluster", action="store_true", help="also on a 3-master cluster")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s]
    print(f"bench_scale on {machine()}, load average {os.getloadavg()[0]:.2f}")
    with redis_server() as url:
        report("one redis-server", asyncio.run(run_all(url, sizes, args.repeat)))
    if args.cluster:
        with redis_cluster() as ports:
            url = f"redis+cluster://127.0.0.1:{ports[0]}"
            report("Redis Cluster, 3 masters", asyncio.run(run_all(url, sizes, args.repeat)))


if __name__ == "__main__":
    main()
