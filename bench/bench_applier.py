"""What applier mode adds to a kill: direct (the operator runs the script) vs via the applier.

A private redis-server on loopback; the applier (``control/applier.py``) runs in a process of
its own, as ``agentconsole applier`` would. The operator side (this process) issues
``--kills`` tenant kills each way and records two times per kill: when the change event
that agents act on arrives on a subscriber's connection (what reaches the fleet), and when
the operator's call returns (what the operator waits for). Both ways run in the same
invocation, interleaved in rounds so machine load affects them alike.

    .venv/bin/python bench/bench_applier.py [--kills 300] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from agentconsole.sim.benchkit import machine, percentile, redis_server, settings_for, table  # noqa: E402

PREFIX = "bench-applier"
PERSON = "alice"


def _settings(url: str, writes: str):
    s = settings_for(url, PREFIX)
    s.operator.name, s.operator.role = PERSON, "responder"
    s.control.writes = writes
    s.control.operators = {PERSON: "responder"}
    return s


async def serve(url: str) -> None:
    """The applier process: apply until killed."""
    from agentconsole.control import ControlPlane, Operator
    from agentconsole.control.applier import Applier

    s = _settings(url, "direct")
    s.operator.role = "admin"
    plane = ControlPlane.from_settings(s, Operator("applier", "admin"))
    await plane.check_schema()
    print("READY", flush=True)
    await Applier(plane, f"bench-{os.getpid()}").run()


async def measure(
    url: str, writes: str, kills: int, offset: int
) -> tuple[list[float], list[float]]:
    """(event latencies, call latencies) in ms for ``kills`` tenant kills."""
    import redis.asyncio as aioredis

    from agentconsole.control import ControlPlane, Operator

    plane = ControlPlane.from_settings(_settings(url, writes), Operator(PERSON, "responder"))
    await plane.check_schema()
    sub = aioredis.Redis.from_url(url).pubsub()
    await sub.subscribe(plane.keys.events)
    await sub.get_message(timeout=1.0)  # the subscribe confirmation
    events, calls = [], []
    for i in range(kills):
        tenant = f"{writes}-{offset + i}"
        start = time.perf_counter()
        call = asyncio.create_task(plane.kills.kill(tenant=tenant, reason="bench"))
        while True:
            msg = await sub.get_message(timeout=10.0)
            if msg and msg["type"] == "message" and tenant.encode() in msg["data"]:
                events.append((time.perf_counter() - start) * 1000)
                break
        await call
        calls.append((time.perf_counter() - start) * 1000)
    await sub.aclose()
    await plane.close()
    return events, calls


async def bench(url: str, kills: int, rounds: int) -> None:
    per = max(1, kills // rounds)
    found: dict[str, tuple[list[float], list[float]]] = {"direct": ([], []), "applier": ([], [])}
    for r in range(rounds):
        for writes in ("direct", "applier"):
            events, calls = await measure(url, writes, per, r * per)
            found[writes][0].extend(events)
            found[writes][1].extend(calls)
    rows = []
    for writes, (events, calls) in found.items():
        rows.append(
            [
                writes,
                len(events),
                f"{percentile(events, 0.5):.2f}",
                f"{percentile(events, 0.99):.2f}",
                f"{percentile(calls, 0.5):.2f}",
                f"{percentile(calls, 0.99):.2f}",
            ]
        )
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"machine: {machine()}; load average {load}")
    head = ["writes", "kills", "event p50 ms", "event p99 ms", "call p50 ms", "call p99 ms"]
    print(table(head, rows))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--serve", help=argparse.SUPPRESS)  # the applier process
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve(args.serve))
        return
    with redis_server() as url:
        proc = subprocess.Popen(
            [sys.executable, __file__, "--serve", url], stdout=subprocess.PIPE, text=True
        )
        try:
            assert proc.stdout is not None and proc.stdout.readline().strip() == "READY"
            asyncio.run(bench(url, args.kills, args.rounds))
        finally:
            proc.terminate()
            proc.wait(10)


if __name__ == "__main__":
    main()
