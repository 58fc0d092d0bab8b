"""The ladder's propagation: pause every run, resume them, then kill them while paused.

A private redis-server on loopback; one agent process (this one, one AgentRuntime) holds
``--agents`` runs, each looping on a guarded call (``asyncio.sleep(--call-ms)``), so a
pause holds it at its next call. The operator side runs the table's rows as the CLI and
the console do (``pause all``, ``pause lift all``, ``kill all``), in the same process
(one clock). Per round, with fresh runs:

- **paused (SDK)**: from the pause request until every run holds (its ``paused`` set);
- **paused (registry)**: until every run's status reads ``paused`` (what the pause's
  outcome reports: "N reported paused within … ms");
- **last call started**: the latest guarded call that began after the request (a call
  already past its checkpoint runs to its end; none starts once a run holds);
- **resumed**: from ``pause lift all`` until every run made its next call;
- **kill while paused, acknowledged**: the alternative measured in the same run, ``kill all``
  on held runs until every task left its ``async with`` (AgentKilled, acknowledged).

    .venv/bin/python bench/bench_ladder.py [--agents 500] [--rounds 5] [--call-ms 10]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from agentconsole.sim.benchkit import machine, percentile, redis_server, settings_for, table  # noqa: E402


async def one_round(url: str, prefix: str, agents: int, call_s: float) -> dict[str, float]:
    from prometheus_client import CollectorRegistry

    from agentconsole.agent import AgentKilled, AgentRuntime
    from agentconsole.agent.logs import logger
    from agentconsole.control import ControlPlane, Operator
    from agentconsole.control import operations as ops

    logger.setLevel(logging.ERROR)
    settings = settings_for(url, prefix)
    rt = await AgentRuntime(settings, registry=CollectorRegistry()).start()
    plane = ControlPlane.from_settings(settings, Operator("bench", "admin"))
    starts: list[float] = []
    killed_at: list[float] = []
    started = 0
    ready = asyncio.Event()

    async def agent(i: int) -> None:
        nonlocal started
        with contextlib.suppress(AgentKilled):
            async with rt.run(task="bench", tenant=f"t{i % 10}", agent_id=f"{prefix}-{i}") as run:
                started += 1
                if started == agents:
                    ready.set()
                while True:
                    await run.call("llm", _call, starts, call_s)
        killed_at.append(time.perf_counter())

    async def run_line(line: str, wait: float = 0.0) -> None:
        call = ops.parse_line(line)
        call.reason, call.wait = "bench", wait
        await call.op.run(plane, call)

    tasks = [asyncio.create_task(agent(i)) for i in range(agents)]
    try:
        await asyncio.wait_for(ready.wait(), 60)
        await asyncio.sleep(0.2)
        runs = list(rt._runs.values())
        t0, t0_mono = time.perf_counter(), time.monotonic()
        await run_line("pause all")
        while not all(r.paused is not None for r in runs):
            await asyncio.sleep(0.0005)
        held = time.perf_counter() - t0
        ids = [r.id for r in runs]
        _, missing, registry = await plane.holds.wait_for_status(
            ids, ("paused",), 30.0, since=t0_mono
        )
        assert not missing, f"{len(missing)} runs never reported paused"
        await asyncio.sleep(max(0.1, 3 * call_s))  # calls past their checkpoint end
        last_start = max(s for s in starts) - t0
        before = len(starts)
        await asyncio.sleep(0.1)
        assert len(starts) == before, "a held run started a call"

        mark = len(starts)
        t1 = time.perf_counter()
        await run_line("pause lift all")
        while len(starts) - mark < agents:
            await asyncio.sleep(0.0005)
        resumed = time.perf_counter() - t1

        await run_line("pause all")
        while not all(r.paused is not None for r in runs):
            await asyncio.sleep(0.0005)
        t2 = time.perf_counter()
        await run_line("kill all")
        await asyncio.wait_for(asyncio.gather(*tasks), 60)
        kill = max(killed_at) - t2
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        with contextlib.suppress(Exception):
            await run_line("kill lift all")
            await run_line("pause lift all")
        await rt.close()
        await plane.close()
    return {
        "paused (SDK)": held,
        "paused (registry)": registry,
        "last call started": last_start,
        "resumed": resumed,
        "kill while paused, acknowledged": kill,
    }


async def _call(starts: list[float], seconds: float) -> None:
    starts.append(time.perf_counter())
    await asyncio.sleep(seconds)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--agents", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--call-ms", type=float, default=10.0)
    args = parser.parse_args()
    with redis_server() as url:
        results = [
            await one_round(url, f"ladder{n}", args.agents, args.call_ms / 1000)
            for n in range(args.rounds)
        ]
    print(f"machine: {machine()}; load average {os.getloadavg()[0]:.2f}")
    print(f"{args.agents} runs in one process, a guarded call of {args.call_ms:g} ms in a loop")
    rows = []
    for name in results[0]:
        values = [r[name] * 1000 for r in results]
        rows.append([name, f"{percentile(values, 0.5):.1f}", f"{max(values):.1f}"])
    print(table(["from the request to", f"p50 ms ({args.rounds} rounds)", "max ms"], rows))


if __name__ == "__main__":
    asyncio.run(main())
