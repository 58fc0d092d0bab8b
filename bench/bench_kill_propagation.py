"""Kill propagation: from the kill command to every agent's task being cancelled.

A private redis-server on loopback; ``--procs`` agent processes (one AgentRuntime each)
hold ``--agents`` runs in total, each blocked inside a guarded LLM call. The operator side
(this process) issues a global stop with ``ControlPlane.kills.kill(everything=True)`` and
each agent records the wall-clock time at which its task saw ``AgentKilled``. Repeated for
``--rounds`` rounds with fresh agents. All processes share one clock (same machine).

    .venv/bin/python bench/bench_kill_propagation.py [--agents 1000] [--procs 2] [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from agentconsole.sim.benchkit import (  # noqa: E402
    machine,
    percentile,
    redis_server,
    settings_for,
    table,
)


async def worker(url: str, prefix: str, agents: int, id_prefix: str) -> None:
    """One agent process: N runs blocked in a call; prints READY, then the kill times."""
    from prometheus_client import CollectorRegistry

    from agentconsole.agent import AgentKilled, AgentRuntime
    from agentconsole.agent.logs import logger

    logger.setLevel(logging.ERROR)  # a deployment ships logs; stderr here would be the cost
    rt = await AgentRuntime(settings_for(url, prefix), registry=CollectorRegistry()).start()
    observed: list[float] = []
    acked: list[float] = []
    registered = 0
    all_in = asyncio.Event()

    async def forever() -> None:
        await asyncio.Event().wait()

    async def agent(i: int) -> None:
        nonlocal registered
        run = rt.run(task="bench", tenant=f"t{i % 10}", agent_id=f"{id_prefix}-{i}")
        with contextlib.suppress(AgentKilled):
            async with run:
                registered += 1
                if registered == agents:
                    all_in.set()
                try:
                    await run.call("llm", forever)
                except AgentKilled:
                    observed.append(time.time())  # the moment the task sees the kill
                    raise
        acked.append(time.time())  # run() has written "killed" to the registry by now

    tasks = [asyncio.create_task(agent(i)) for i in range(agents)]
    await asyncio.wait_for(all_in.wait(), 60)
    print("READY", flush=True)
    await asyncio.wait(tasks, timeout=30)
    doc = {"observed": observed, "acked": acked, "missing": agents - len(observed)}
    print(json.dumps(doc), flush=True)
    await rt.close()


async def operator(url: str, agents: int, procs: int, rounds: int) -> None:
    from agentconsole.control import ControlPlane

    settings = settings_for(url, "killbench")
    plane = ControlPlane.from_settings(settings)
    await plane.check_schema()
    from_issue: list[float] = []
    from_return: list[float] = []
    acks: list[float] = []
    command: list[float] = []
    missing = 0
    for r in range(rounds):
        share = [agents // procs + (1 if p < agents % procs else 0) for p in range(procs)]
        children = [
            subprocess.Popen(
                [sys.executable, __file__, "--worker", url, "killbench", str(n), f"r{r}p{p}"],
                stdout=subprocess.PIPE,
                text=True,
            )
            for p, n in enumerate(share)
        ]
        for child in children:
            assert child.stdout is not None
            line = child.stdout.readline().strip()
            if line != "READY":
                sys.exit(f"agent process failed to start: {line!r}")
        await asyncio.sleep(0.5)  # let the heartbeats of registration settle
        t0 = time.time()
        outcome = await plane.kills.kill(everything=True, reason="benchmark")
        t1 = time.time()
        for child in children:
            out, _ = child.communicate(timeout=60)
            doc = json.loads(out.strip().splitlines()[-1])
            missing += doc["missing"]
            from_issue += [t - t0 for t in doc["observed"]]
            from_return += [max(0.0, t - t1) for t in doc["observed"]]
            acks += [max(0.0, t - t1) for t in doc["acked"]]
        # every agent must show as killed and acknowledged in the registry
        report = await plane.kills.wait_for_acks(outcome.agents, since=t0, timeout=10)
        missing += len(report.missing)
        command.append(t1 - t0)
        await plane.kills.lift("all")
    await plane.close()

    def ms(values: list[float], q: float) -> str:
        return f"{percentile(values, q) * 1000:.1f}"

    print(f"# kill propagation ({machine()})")
    print(f"# {agents} agents in {procs} processes, global stop, {rounds} rounds")
    rows = [
        (
            "task cancelled, from kill issued",
            len(from_issue),
            *(ms(from_issue, q) for q in (0.5, 0.99, 1.0)),
        ),
        (
            "task cancelled, after kill returned",
            len(from_return),
            *(ms(from_return, q) for q in (0.5, 0.99, 1.0)),
        ),
        (
            "registry shows killed, after kill returned",
            len(acks),
            *(ms(acks, q) for q in (0.5, 0.99, 1.0)),
        ),
        ("kill command duration", len(command), *(ms(command, q) for q in (0.5, 0.99, 1.0))),
    ]
    print(table(["measure", "samples", "p50 ms", "p99 ms", "max ms"], rows))
    print(f"# agents that never stopped or acknowledged: {missing}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        _, _, url, prefix, n, id_prefix = sys.argv
        asyncio.run(worker(url, prefix, int(n), id_prefix))
        sys.exit(0)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=1000)
    parser.add_argument("--procs", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with redis_server() as redis_url:
        asyncio.run(operator(redis_url, args.agents, args.procs, args.rounds))
