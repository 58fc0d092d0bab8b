"""Hot-path cost of the agent SDK's guard, next to a bare call and pybreaker on Redis.

One run, one process, a private redis-server on loopback. Each case is timed over many
calls of a no-op dependency; "Redis cmds/call" is Redis's own command counter over the
loop divided by the calls (the SDK's background heartbeat/report is included, and is not
per call). pybreaker has no asyncio support (its async path needs Tornado), so it is timed
with a synchronous no-op, against a synchronous bare call.

    .venv/bin/python bench/bench_hot_path.py [--calls 200000] [--pybreaker-calls 5000]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agentconsole.sim.benchkit import (
    commands_processed,
    machine,
    redis_server,
    settings_for,
    table,
)


async def noop() -> int:
    return 1


def sync_noop() -> int:
    return 1


async def time_async(n: int, body: Callable[[], Awaitable[object]]) -> float:
    """Nanoseconds per iteration of ``await body()``, best of 3 runs."""
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter_ns()
        for _ in range(n):
            await body()
        best = min(best, (time.perf_counter_ns() - start) / n)
    return best


def time_sync(n: int, body: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter_ns()
        for _ in range(n):
            body()
        best = min(best, (time.perf_counter_ns() - start) / n)
    return best


async def main(calls: int, pb_calls: int) -> None:
    import pybreaker
    import redis
    from prometheus_client import CollectorRegistry

    from agentconsole.agent import AgentRuntime
    from agentconsole.control import ControlPlane

    with redis_server() as url:
        settings = settings_for(url)
        plane = ControlPlane.from_settings(settings)
        await plane.check_schema()
        await plane.flags.create("bench-flag", enabled=True, rollout=50)
        await plane.kills.kill(tenant="someone-else", reason="a kill in force, not ours")
        rt = await AgentRuntime(settings, registry=CollectorRegistry()).start()
        rows: list[tuple[str, float, float, float]] = []

        async with rt.run(task="bench", user="u1", tenant="t1") as run:
            flags, breakers = rt.flags, rt.breakers

            async def decisions() -> int:
                flags.enabled("bench-flag", key="u1")
                breakers.check("llm")
                run.check()
                return await noop()

            async def guarded() -> int:
                return await run.call("llm", noop)

            async def guarded_with_flag() -> int:
                run.flag("bench-flag")
                return await run.call("llm", noop)

            cases: list[tuple[str, Callable[[], Awaitable[object]]]] = [
                ("bare: await fn()", noop),
                ("flag + breaker + kill checks, then await fn()", decisions),
                ("run.call(dep, fn) (guard + metrics)", guarded),
                ("run.flag() + run.call(dep, fn)", guarded_with_flag),
            ]
            bare = 0.0
            for name, body in cases:
                await time_async(min(calls, 10_000), body)  # warm up
                before = commands_processed(url)
                ns = await time_async(calls, body)
                cmds = (commands_processed(url) - before - 1) / (calls * 3)
                bare = bare or ns
                rows.append((name, ns, ns - bare, max(cmds, 0.0)))

        sync_bare = time_sync(calls, sync_noop)
        memory = pybreaker.CircuitBreaker(fail_max=5, reset_timeout=30)
        mem_ns = time_sync(calls, lambda: memory.call(sync_noop))
        client = redis.Redis.from_url(url)
        storage = pybreaker.CircuitRedisStorage(pybreaker.STATE_CLOSED, client, namespace="b")
        on_redis = pybreaker.CircuitBreaker(fail_max=5, reset_timeout=30, state_storage=storage)
        on_redis.call(sync_noop)
        before = commands_processed(url)
        redis_ns = time_sync(pb_calls, lambda: on_redis.call(sync_noop))
        pb_cmds = (commands_processed(url) - before - 1) / (pb_calls * 3)
        client.close()
        rows.append(("bare: fn() (sync)", sync_bare, 0.0, 0.0))
        rows.append(("pybreaker, in-memory state (sync)", mem_ns, mem_ns - sync_bare, 0.0))
        rows.append(
            ("pybreaker, CircuitRedisStorage (sync)", redis_ns, redis_ns - sync_bare, pb_cmds)
        )
        await rt.close()
        await plane.close()

    print(f"# agent SDK hot path ({machine()})")
    print(f"# {calls} calls per case ({pb_calls} for pybreaker on Redis), best of 3")
    print(
        table(
            ["case", "ns/call", "added ns/call", "Redis cmds/call"],
            [(n, f"{ns:,.0f}", f"{added:,.0f}", f"{c:.4f}") for n, ns, added, c in rows],
        )
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200_000)
    parser.add_argument("--pybreaker-calls", type=int, default=5_000)
    args = parser.parse_args()
    asyncio.run(main(args.calls, args.pybreaker_calls))
