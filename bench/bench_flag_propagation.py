"""Flag propagation: from a flag change to every agent's snapshot showing it.

A private redis-server on loopback. Two shapes of fleet, each with 1,000 agents:
- "shared": agents in a few processes, one AgentRuntime (one snapshot) per process;
- "per-agent": one AgentRuntime per agent (as if every agent were its own process, each
  with its own Redis connections and subscription), spread over a few OS processes.
The operator side (this process) flips ``bench-flag`` on and off ``--rounds`` times; every
agent task waits until ``runtime.flags.enabled`` returns the new value and records the
wall-clock time. All processes share one clock (same machine).

    .venv/bin/python bench/bench_flag_propagation.py [--agents 1000] [--rounds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agentconsole.sim.benchkit import (
    machine,
    percentile,
    redis_server,
    settings_for,
    table,
)

FLAG = "bench-flag"


async def worker(url: str, runtimes: int, per_runtime: int, rounds: int) -> None:
    from prometheus_client import CollectorRegistry

    from agentconsole.agent import AgentRuntime
    from agentconsole.agent.logs import logger

    logger.setLevel(logging.ERROR)
    loop = asyncio.get_running_loop()
    registry = CollectorRegistry()
    rts = []
    for _ in range(runtimes):
        rt = AgentRuntime(settings_for(url, "flagbench"), registry=registry)
        rts.append(await rt.start())
    seen: list[list[float]] = [[] for _ in range(rounds)]
    done = [asyncio.Event() for _ in range(rounds)]
    total = runtimes * per_runtime

    def watch(rt: AgentRuntime) -> dict[str, asyncio.Future[None]]:
        state = {"next": loop.create_future()}

        def applied(_: object) -> None:
            fut, state["next"] = state["next"], loop.create_future()
            if not fut.done():
                fut.set_result(None)

        rt.on_snapshot(applied)
        return state

    async def agent(rt: AgentRuntime, state: dict[str, asyncio.Future[None]], key: str):
        for r in range(rounds):
            want = r % 2 == 0  # round 0 turns it on, round 1 off, ...
            while rt.flags.enabled(FLAG, key=key) != want:
                await state["next"]
            seen[r].append(time.time())
            if len(seen[r]) == total:
                done[r].set()

    tasks = []
    for i, rt in enumerate(rts):
        state = watch(rt)
        tasks += [
            asyncio.create_task(agent(rt, state, f"agent-{i}-{j}")) for j in range(per_runtime)
        ]
    print("READY", flush=True)
    for r in range(rounds):
        await done[r].wait()
        print(json.dumps({"round": r, "seen": seen[r]}), flush=True)
    await asyncio.gather(*tasks)
    for rt in rts:
        await rt.close()


async def fleet(url: str, procs: int, runtimes: int, per_runtime: int, rounds: int):
    """Start ``procs`` worker processes; returns (from issue, from return, command) seconds."""
    from agentconsole.control import ControlPlane

    plane = ControlPlane.from_settings(settings_for(url, "flagbench"))
    await plane.check_schema()
    try:
        await plane.flags.get(FLAG)
        await plane.flags.disable(FLAG)
    except Exception:
        await plane.flags.create(FLAG, enabled=False, rollout=100)
    children = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            __file__,
            "--worker",
            url,
            str(runtimes),
            str(per_runtime),
            str(rounds),
            stdout=asyncio.subprocess.PIPE,
            limit=1 << 24,
        )
        for _ in range(procs)
    ]
    for child in children:
        assert child.stdout is not None
        line = (await child.stdout.readline()).decode().strip()
        if line != "READY":
            sys.exit(f"agent process failed to start: {line!r}")
    await asyncio.sleep(1.0)  # every subscription is in place
    from_issue: list[float] = []
    from_return: list[float] = []
    command: list[float] = []
    for r in range(rounds):
        t0 = time.time()
        if r % 2 == 0:
            await plane.flags.enable(FLAG, reason="benchmark")
        else:
            await plane.flags.disable(FLAG, reason="benchmark")
        t1 = time.time()
        command.append(t1 - t0)
        for child in children:
            assert child.stdout is not None
            doc = json.loads(await child.stdout.readline())
            from_issue += [t - t0 for t in doc["seen"]]
            from_return += [max(0.0, t - t1) for t in doc["seen"]]
        await asyncio.sleep(0.3)
    for child in children:
        await child.wait()
    await plane.close()
    return from_issue, from_return, command


async def main(agents: int, rounds: int, procs: int, per_agent_procs: int) -> None:
    rows = []
    load = os.getloadavg()[0]

    def ms(values: list[float], q: float) -> str:
        return f"{percentile(values, q) * 1000:.1f}"

    with redis_server() as url:
        shapes = [
            (f"shared: {procs} procs x 1 runtime", procs, 1, agents // procs),
            (
                f"per-agent: {agents} runtimes in {per_agent_procs} procs",
                per_agent_procs,
                agents // per_agent_procs,
                1,
            ),
        ]
        for name, p, runtimes, per_runtime in shapes:
            issue, ret, command = await fleet(url, p, runtimes, per_runtime, rounds)
            rows.append(
                (name, "from change issued", len(issue), *(ms(issue, q) for q in (0.5, 0.99, 1.0)))
            )
            rows.append(
                (name, "after change returned", len(ret), *(ms(ret, q) for q in (0.5, 0.99, 1.0)))
            )
            rows.append(
                (
                    name,
                    "flag command duration",
                    len(command),
                    *(ms(command, q) for q in (0.5, 0.99, 1.0)),
                )
            )
    after = os.getloadavg()[0]
    print(f"# flag propagation ({machine()}; load average {load:.2f} before, {after:.2f} after)")
    print(f"# {agents} agents per shape, {rounds} flips")
    print(table(["fleet", "measure", "samples", "p50 ms", "p99 ms", "max ms"], rows))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        _, _, redis_url, n_rt, n_agents, n_rounds = sys.argv
        asyncio.run(worker(redis_url, int(n_rt), int(n_agents), int(n_rounds)))
        sys.exit(0)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--procs", type=int, default=2, help="processes, shared shape")
    parser.add_argument(
        "--per-agent-procs", type=int, default=4, help="OS processes, per-agent shape"
    )
    args = parser.parse_args()
    asyncio.run(main(args.agents, args.rounds, args.procs, args.per_agent_procs))
