"""Kill propagation: from the kill command to every agent's task being cancelled, and to
every run having left its ``async with`` acknowledged in the registry.

A private redis-server on loopback; ``--procs`` agent processes (one AgentRuntime each)
hold ``--agents`` runs in total, each blocked inside a guarded LLM call. The operator side
(this process) issues a global stop the way the CLI and the console do
(``operations.kill_and_wait``: store, publish, list the affected agents, wait for their
acknowledgements) and each agent records the wall-clock times at which its task saw
``AgentKilled`` and at which it was back out of ``async with`` (acknowledged by then); the
operator side records what its outcome said ("all N acknowledged in Redis within X ms of
the kill": X is when its poll read the last acknowledgement back, an upper bound). It also
prints what one kill costs in CPU, per agent process, for Redis and for the operator: on a
machine they share, that sum is what the last run's exit waits behind.
Repeated for ``--rounds`` rounds with fresh agents, alternating between the acknowledgement
paths round by round:
``batched`` (what the SDK does: one ``kill_ack`` call per registry partition for every run
the kill stopped in the process) and ``per run`` (the previous path, kept here to compare:
each killed run writes its whole row, coalesced only within one loop iteration). All
processes share one clock (same machine).

    .venv/bin/python bench/bench_kill_propagation.py [--agents 1000] [--procs 2] [--rounds 5]
        [--paths batched,per-run] [--cli]

``--cli`` issues the stop the way the issue measured it, with ``agentconsole agents kill
--all`` in a process of its own, and counts from the kill's audit entry.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from agentconsole.sim.benchkit import (  # noqa: E402
    machine,
    percentile,
    redis_cpu_seconds,
    redis_server,
    settings_for,
    table,
)

PATHS = ("batched", "per-run")


async def worker(url: str, prefix: str, agents: int, id_prefix: str, path: str) -> None:
    """One agent process: N runs blocked in a call; prints READY, then the kill times."""
    from prometheus_client import CollectorRegistry

    from agentconsole.agent import AgentKilled, AgentRuntime
    from agentconsole.agent.logs import logger

    logger.setLevel(logging.ERROR)  # a deployment ships logs; stderr here would be the cost
    rt = await AgentRuntime(settings_for(url, prefix), registry=CollectorRegistry()).start()
    if path == "per-run":  # the previous acknowledgement: each killed run's whole row
        rt.acknowledge = rt.write_record  # type: ignore[method-assign]
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
        acked.append(time.time())  # out of run(): its acknowledgement is in the registry

    tasks = [asyncio.create_task(agent(i)) for i in range(agents)]
    await asyncio.wait_for(all_in.wait(), 60)
    print("READY", flush=True)
    ready_cpu = time.process_time()
    await asyncio.wait(tasks, timeout=30)
    for _ in range(3):  # the callbacks that count the runs' ends, just after the last exit
        await asyncio.sleep(0)
    doc = {
        "observed": observed,
        "acked": acked,
        "missing": agents - len(observed),
        "cpu": time.process_time() - ready_cpu,  # the kill, and the 0.5 s idle before it
    }
    print(json.dumps(doc), flush=True)
    await rt.close()


@dataclass
class Figures:
    """One acknowledgement path's samples over every round."""

    interrupted: list[float] = field(default_factory=list)
    exited: list[float] = field(default_factory=list)
    returned: list[float] = field(default_factory=list)
    last_exit: list[float] = field(default_factory=list)  # per round: the last run out
    said: list[float] = field(default_factory=list)  # the outcome's "within X ms of the kill"
    lines: list[str] = field(default_factory=list)
    missing: int = 0
    agent_cpu: list[float] = field(default_factory=list)  # per agent process and round
    redis_cpu: list[float] = field(default_factory=list)  # per round, during kill_and_wait
    operator_cpu: list[float] = field(default_factory=list)  # per round, kill_and_wait
    by_cli: bool = False  # the stop issued by the CLI, times from its audit entry


async def one_round(plane, url: str, agents: int, procs: int, r: int, path: str, f: Figures):
    from agentconsole.control.operations import kill_and_wait

    prefix = plane.keys.prefix
    share = [agents // procs + (1 if p < agents % procs else 0) for p in range(procs)]
    children = [
        subprocess.Popen(
            [sys.executable, __file__, "--worker", url, prefix, str(n), f"r{r}p{p}", path],
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
    redis_before, operator_before = redis_cpu_seconds(url), time.process_time()
    if f.by_cli:
        t0 = await _kill_by_cli(plane, url, f)
    else:
        t0 = time.time()
        outcome = await kill_and_wait(plane, [{"everything": True}], reason="benchmark", wait=10)
        f.returned.append(time.time() - t0)
        f.operator_cpu.append(time.process_time() - operator_before)
        f.lines.append(outcome.text)
        if outcome.data["acknowledged"]:
            f.said.append(max(outcome.data["acknowledged"].values()))
        f.missing += len(outcome.data["not_acknowledged"])
    f.redis_cpu.append(redis_cpu_seconds(url) - redis_before)
    exits: list[float] = []
    for child in children:
        out, _ = child.communicate(timeout=60)
        doc = json.loads(out.strip().splitlines()[-1])
        f.missing += doc["missing"]
        f.agent_cpu.append(doc["cpu"])
        f.interrupted += [t - t0 for t in doc["observed"]]
        exits += [t - t0 for t in doc["acked"]]
    f.exited += exits
    if exits:
        f.last_exit.append(max(exits))
    await plane.kills.lift("all")


async def _kill_by_cli(plane, url: str, f: Figures) -> float:
    """The stop as the issue measured it: ``agentconsole agents kill --all`` in a process of
    its own; returns the audit entry's time, which the figures then count from."""
    env = dict(
        os.environ,
        AGENTCONSOLE_REDIS_URL=url,
        AGENTCONSOLE_REDIS_PREFIX=plane.keys.prefix,
        AGENTCONSOLE_OPERATOR_NAME="bench",
        AGENTCONSOLE_OPERATOR_ROLE="admin",
        PYTHONPATH=str(ROOT),
    )
    cli = [sys.executable, "-m", "agentconsole", "agents", "kill", "--all", "--yes"]
    done = await asyncio.to_thread(
        subprocess.run,
        [*cli, "--reason", "benchmark", "--wait", "10"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    f.lines.append(done.stdout.strip() or done.stderr.strip()[-200:])
    (entry,) = await plane.audit.tail(1)
    return float(entry.ts)


async def operator(
    url: str, agents: int, procs: int, rounds: int, paths: list[str], by_cli: bool = False
) -> list:
    """Rounds alternate between the paths (ABBA...), so the machine's load falls on both."""
    from agentconsole.control import ControlPlane

    planes = {}
    for path in paths:
        planes[path] = ControlPlane.from_settings(settings_for(url, f"killbench-{path}"))
        await planes[path].check_schema()
    figures = {path: Figures(by_cli=by_cli) for path in paths}
    for r in range(rounds):
        for path in paths if r % 2 == 0 else paths[::-1]:
            await one_round(planes[path], url, agents, procs, r, path, figures[path])
    for plane in planes.values():
        await plane.close()

    def ms(values: list[float], q: float) -> str:
        return f"{percentile(values, q) * 1000:.1f}"

    rows: list[tuple] = []
    for path, f in figures.items():
        print(f"# {path}: what the operator read, round by round: " + " | ".join(f.lines))
        for measure, values in (
            ("task interrupted", f.interrupted),
            ("out of async with, acknowledged", f.exited),
            ("per round: last run out of async with", f.last_exit),
            ("per round: outcome's last ack read back from Redis", f.said),
            ("kill_and_wait returned (polls acks every 20 ms)", f.returned),
        ):
            if values or not f.by_cli:  # the CLI's own figures are in its output line
                rows.append((path, measure, len(values), *(ms(v, q) for v, q in _at(values))))
        rows.append((path, "runs never stopped or acknowledged", f.missing, "", "", ""))
        redis_while = "the CLI ran (its start included)" if f.by_cli else "kill_and_wait ran"
        for measure, values in (
            ("CPU per kill: each agent process (incl. 0.5 s idle)", f.agent_cpu),
            (f"CPU per kill: Redis, while {redis_while}", f.redis_cpu),
            ("CPU per kill: the operator's kill_and_wait", f.operator_cpu),
        ):
            if values or not f.by_cli:
                rows.append((path, measure, len(values), *(ms(v, q) for v, q in _at(values))))
    return rows


def _at(values: list[float]) -> list[tuple[list[float], float]]:
    return [(values, q) for q in (0.5, 0.99, 1.0)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=1000)
    parser.add_argument("--procs", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--paths", default=",".join(PATHS), help="batched,per-run")
    parser.add_argument(
        "--cli",
        action="store_true",
        help="issue the stop with `agentconsole agents kill --all` (times from its audit entry)",
    )
    args = parser.parse_args()
    paths = [p for p in args.paths.split(",") if p]
    if not set(paths) <= set(PATHS):
        sys.exit(f"--paths: choose from {', '.join(PATHS)}")
    load_before = os.getloadavg()[0]
    with redis_server() as redis_url:
        rows = asyncio.run(
            operator(redis_url, args.agents, args.procs, args.rounds, paths, args.cli)
        )
    load = f"load average {load_before:.2f} before, {os.getloadavg()[0]:.2f} after"
    print(f"# kill propagation ({machine()}; {load})")
    print(f"# {args.agents} agents in {args.procs} processes, global stop, {args.rounds} rounds")
    if args.cli:
        print("# times from the kill's audit entry (the CLI issued it; no operator figures)")
    else:
        print("# times from the kill being issued (kill_and_wait called)")
    print(table(["path", "measure", "samples", "p50 ms", "p99 ms", "max ms"], rows))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        _, _, url, prefix, n, id_prefix, path = sys.argv
        asyncio.run(worker(url, prefix, int(n), id_prefix, path))
        sys.exit(0)
    main()
