"""Budget reservations: throughput and overshoot with 200 concurrent agents.

A private redis-server on loopback. ``--procs`` agent processes (one AgentRuntime each) run
``--agents`` agent tasks in total; each task charges 1,000 tokens at a time
(``run.charge``: an atomic Lua reserve, then a commit) for users drawn from a small shared
pool, until every user's daily token limit is used up. Overshoot is what Redis recorded
beyond each user's limit (the target is zero), and what is left reserved at the end.

    .venv/bin/python bench/bench_budget.py [--agents 200] [--procs 2] [--users 50]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import random
import subprocess
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

DAILY_TOKENS = 100_000
CHARGE_IN, CHARGE_OUT = 700, 300


def bench_settings(url: str):
    from agentconsole.config import ModelPrice

    s = settings_for(url, "budgetbench")
    s.prices = {"gpt-4o": ModelPrice(0.0025, 0.01)}
    return s


async def worker(url: str, agents: int, users: int, seed: int) -> None:
    from prometheus_client import CollectorRegistry

    from agentconsole.agent import AgentRuntime, TokenBudgetExceeded
    from agentconsole.agent.logs import logger

    logger.setLevel(logging.ERROR)
    rt = await AgentRuntime(bench_settings(url), registry=CollectorRegistry()).start()
    latencies: list[float] = []
    accepted = rejected = 0

    async def agent(i: int) -> None:
        nonlocal accepted, rejected
        rng = random.Random(seed * 1000 + i)
        exhausted: set[int] = set()
        async with rt.run(task="budget bench", user=f"agent-{i}") as run:
            while len(exhausted) < users:
                user = rng.choice([u for u in range(users) if u not in exhausted])
                run.user = f"user-{user}"  # the same run charging for many users
                t0 = time.perf_counter()
                try:
                    await run.charge(
                        model="gpt-4o", input_tokens=CHARGE_IN, output_tokens=CHARGE_OUT
                    )
                    accepted += 1
                except TokenBudgetExceeded:
                    rejected += 1
                    exhausted.add(user)
                latencies.append(time.perf_counter() - t0)

    start = time.perf_counter()
    await asyncio.gather(*(agent(i) for i in range(agents)))
    elapsed = time.perf_counter() - start
    doc = {"accepted": accepted, "rejected": rejected, "elapsed": elapsed, "lat": latencies}
    print(json.dumps(doc), flush=True)
    await rt.close()


async def operator(url: str, agents: int, procs: int, users: int) -> None:
    from agentconsole.control import ControlPlane

    plane = ControlPlane.from_settings(bench_settings(url))
    await plane.check_schema()
    await plane.budgets.set("user_daily_tokens", DAILY_TOKENS)
    await plane.budgets.set("user_daily_cost_usd", 1000)
    await plane.budgets.set("run_max_steps", 1_000_000)
    share = [agents // procs + (1 if p < agents % procs else 0) for p in range(procs)]
    start = time.perf_counter()
    children = [
        subprocess.Popen(
            [sys.executable, __file__, "--worker", url, str(n), str(users), str(p)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for p, n in enumerate(share)
    ]
    docs = [
        json.loads(child.communicate(timeout=600)[0].strip().splitlines()[-1]) for child in children
    ]
    wall = time.perf_counter() - start
    usage = await plane.budgets.usage()
    await plane.close()

    accepted = sum(d["accepted"] for d in docs)
    rejected = sum(d["rejected"] for d in docs)
    latencies = [x for d in docs for x in d["lat"]]
    busy = max(d["elapsed"] for d in docs)
    per_user = [usage.get(f"user-{u}", {}) for u in range(users)]
    overshoot = int(max(u.get("tokens", 0) - DAILY_TOKENS for u in per_user))
    reserved = int(sum(u.get("reserved_tokens", 0) for u in per_user))
    used = int(sum(u.get("tokens", 0) for u in per_user))
    expected = users * (DAILY_TOKENS // (CHARGE_IN + CHARGE_OUT)) * (CHARGE_IN + CHARGE_OUT)

    print(f"# budget reservations ({machine()})")
    print(
        f"# {agents} agents in {procs} processes, {users} users x {DAILY_TOKENS:,} tokens/day, "
        f"{CHARGE_IN + CHARGE_OUT} tokens per charge (reserve + commit)"
    )
    rows = [
        ("charges accepted", f"{accepted:,}"),
        ("charges refused (user_daily_tokens)", f"{rejected:,}"),
        ("throughput, charges/s (accepted+refused)", f"{(accepted + rejected) / busy:,.0f}"),
        ("accepted charges/s (2 Lua calls each)", f"{accepted / busy:,.0f}"),
        ("charge latency p50 ms", f"{percentile(latencies, 0.5) * 1000:.2f}"),
        ("charge latency p99 ms", f"{percentile(latencies, 0.99) * 1000:.2f}"),
        ("tokens recorded / allowed", f"{used:,} / {expected:,}"),
        ("worst overshoot over a user's limit (tokens)", f"{max(overshoot, 0):,}"),
        ("tokens left reserved at the end", f"{reserved:,}"),
        ("wall time incl. process start, s", f"{wall:.1f}"),
    ]
    print(table(["measure", "value"], rows))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        _, _, redis_url, n, n_users, seed = sys.argv
        asyncio.run(worker(redis_url, int(n), int(n_users), int(seed)))
        sys.exit(0)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=200)
    parser.add_argument("--procs", type=int, default=2)
    parser.add_argument("--users", type=int, default=50)
    args = parser.parse_args()
    with redis_server() as url_:
        asyncio.run(operator(url_, args.agents, args.procs, args.users))
