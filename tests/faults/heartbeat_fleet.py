"""A process of simulated agents: long-lived SDK runs that step now and then and heartbeat.

Each agent is one ``runtime.run(...)`` that stays open, so the SDK's own heartbeat loop
writes every agent once per heartbeat interval (one pipeline per 250 records). The
process reports on stdout, as JSON lines: ``{"ready": n}`` once every run is registered,
then a summary at the end, measured inside the process:

- heartbeat records written, and the gap between two heartbeats of the same agent
  (p50/p99/max): whether this process keeps the heartbeat interval;
- event-loop lag (how late a 100 ms timer fires) and the process's CPU share.

    python -m tests.faults.heartbeat_fleet --url redis://... --prefix p --agents 5000
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import signal
import sys
import time
from typing import Any

TENANTS = ("acme", "globex", "initech", "umbrella", "hooli")
MODELS = ("gpt-4o", "gpt-4o-mini", "claude-sonnet")


def _quantiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {"p50": 0.0, "p99": 0.0, "max": 0.0}
    ordered = sorted(values)
    at = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]  # noqa: E731
    return {"p50": at(0.5), "p99": at(0.99), "max": ordered[-1]}


class Recorder:
    """Wraps the registry's batched write to see every heartbeat this process sends."""

    def __init__(self) -> None:
        self.last: dict[str, float] = {}
        self.gaps: list[float] = []
        self.heartbeats = 0
        self.errors = 0

    def install(self, agents: Any) -> None:
        original = agents.write_many

        async def write_many(records: list[Any], fields: Any = None, **options: Any) -> Any:
            try:
                result = await original(records, fields, **options)
            except Exception:
                self.errors += 1
                raise
            if fields:  # a heartbeat (registration and final state write every field)
                now = time.monotonic()
                self.heartbeats += len(records)
                for record in records:
                    before = self.last.get(record.id)
                    if before is not None:
                        self.gaps.append(now - before)
                    self.last[record.id] = now
            return result

        agents.write_many = write_many


async def _agent(rt: Any, prefix: str, i: int, stop: asyncio.Event, entered: list[int]) -> str:
    from agentconsole.agent import AgentStopped

    rng = random.Random(i)
    try:
        async with rt.run(
            task=f"load task {i % 17}",
            user=f"user-{i % 300}",
            tenant=TENANTS[i % len(TENANTS)],
            agent_id=f"{prefix}-{i:05d}",
            model=MODELS[i % len(MODELS)],
        ) as run:
            entered[0] += 1
            while not stop.is_set():
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(rng.uniform(2.0, 6.0)):
                        await stop.wait()
                if not stop.is_set():
                    run.step()
        return "ok"
    except AgentStopped as exc:
        return type(exc).__name__
    except Exception as exc:
        return f"error: {type(exc).__name__}: {exc}"


async def _lag_probe(stop: asyncio.Event, lags: list[float]) -> None:
    while not stop.is_set():
        t0 = time.monotonic()
        await asyncio.sleep(0.1)
        lags.append(time.monotonic() - t0 - 0.1)


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    from prometheus_client import CollectorRegistry

    from agentconsole.agent import AgentRuntime
    from agentconsole.config import Settings

    settings = Settings()
    settings.redis.url, settings.redis.prefix = args.url, args.prefix
    rt = AgentRuntime(
        settings,
        registry=CollectorRegistry(),
        heartbeat_interval=args.heartbeat,
        safe_mode_new_runs="allow",
    )
    await rt.start()
    recorder = Recorder()
    recorder.install(rt.plane.agents)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    entered = [0]
    first, count = args.first, args.agents
    tasks = [
        loop.create_task(_agent(rt, args.id_prefix, i, stop, entered))
        for i in range(first, first + count)
    ]
    lags: list[float] = []
    probe = loop.create_task(_lag_probe(stop, lags))
    started = time.monotonic()
    while entered[0] < count and time.monotonic() - started < 60 and not stop.is_set():
        await asyncio.sleep(0.05)
    print(json.dumps({"ready": entered[0], "seconds": time.monotonic() - started}), flush=True)
    # measure from here: every run is registered
    recorder.gaps.clear()
    beats0, cpu0, t0 = recorder.heartbeats, time.process_time(), time.monotonic()
    lags.clear()
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(args.seconds):
            await stop.wait()
    elapsed = time.monotonic() - t0
    cpu = time.process_time() - cpu0
    beats = recorder.heartbeats - beats0
    stop.set()
    outcomes = await asyncio.gather(*tasks)
    probe.cancel()
    await rt.close()
    errors = [o for o in outcomes if o != "ok"]
    return {
        "agents": count,
        "entered": entered[0],
        "seconds": elapsed,
        "heartbeats": beats,
        "heartbeats_per_s": beats / elapsed if elapsed else 0.0,
        "gap": _quantiles(recorder.gaps),
        "lag": _quantiles(lags),
        "cpu_share": cpu / elapsed if elapsed else 0.0,
        "write_errors": recorder.errors,
        "run_errors": len(errors),
        "first_error": errors[0] if errors else "",
    }


class FleetProcesses:
    """Parent side: ``agents`` split over ``procs`` child processes of this module."""

    def __init__(
        self,
        url: str,
        prefix: str,
        agents: int,
        procs: int = 1,
        *,
        seconds: float = 60.0,
        heartbeat: float = 2.0,
    ) -> None:
        self.args = []
        per = -(-agents // procs)
        for n in range(procs):
            first, count = n * per, min(per, agents - n * per)
            if count > 0:
                self.args.append(
                    [
                        sys.executable,
                        "-m",
                        "tests.faults.heartbeat_fleet",
                        f"--url={url}",
                        f"--prefix={prefix}",
                        f"--agents={count}",
                        f"--first={first}",
                        f"--seconds={seconds}",
                        f"--heartbeat={heartbeat}",
                    ]
                )
        self.procs: list[Any] = []

    def start(self) -> None:
        import subprocess
        from pathlib import Path

        from agentconsole.sim.children import die_with_parent

        root = Path(__file__).resolve().parents[2]
        for args in self.args:
            self.procs.append(
                subprocess.Popen(
                    args,
                    cwd=root,
                    stdout=subprocess.PIPE,
                    text=True,
                    preexec_fn=die_with_parent,
                )
            )

    def _line(self, proc: Any) -> dict[str, Any]:
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError(f"agent process exited with {proc.wait()} before reporting")
        return json.loads(line)

    def wait_ready(self) -> list[dict[str, Any]]:
        """Blocks until every process has registered all its runs (call from a thread)."""
        return [self._line(p) for p in self.procs]

    def stop(self) -> list[dict[str, Any]]:
        """SIGTERM, then each process's summary (blocking: call from a thread)."""
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        summaries = []
        for p in self.procs:
            with contextlib.suppress(Exception):
                summaries.append(self._line(p))
            try:
                p.wait(30)
            except Exception:
                p.kill()
                p.wait(5)
        return summaries


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--prefix", required=True)
    parser.add_argument("--agents", type=int, required=True)
    parser.add_argument("--first", type=int, default=0, help="index of the first agent")
    parser.add_argument("--id-prefix", default="load")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--heartbeat", type=float, default=2.0)
    args = parser.parse_args(argv)
    summary = asyncio.run(main_async(args))
    print(json.dumps(summary), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
