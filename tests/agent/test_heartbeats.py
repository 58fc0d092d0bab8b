"""The SDK's heartbeats: what changed since the last beat reaches the registry, and an agent
that only stays alive is shown alive, though its beat writes nothing but the heartbeat index."""

from __future__ import annotations

import asyncio
import time


async def _until(check, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result or time.monotonic() > deadline:
            return result
        await asyncio.sleep(0.05)


async def test_an_idle_run_stays_alive_and_a_busy_one_reports_its_work(plane, make_runtime):
    runtime = await make_runtime(heartbeat_interval=0.1)
    async with runtime.run(task="t", tenant="acme") as run:
        registered = (await plane.agents.get(run.id)).heartbeat_at

        async def fresher():
            rec = await plane.agents.get(run.id)
            return rec if rec.heartbeat_at > registered + 0.25 else None

        rec = await _until(fresher)
        assert rec is not None and rec.status == "running" and rec.steps == 0
        run.step()
        run.step()

        async def stepped():
            rec = await plane.agents.get(run.id)
            return rec if rec.steps == 2 else None

        assert await _until(stepped) is not None
    assert (await plane.agents.get(run.id)).status == "finished"
    assert run.id not in runtime._written.rows  # nothing kept of a run that ended
