"""`agentconsole agents kill` against agents running the real SDK: what it prints is true."""

from __future__ import annotations

import asyncio
import contextlib
import re

import pytest


async def _agent(runtime, started: asyncio.Event, **kw) -> None:
    async with runtime.run(task="long job", **kw) as run:
        started.set()
        await run.call("llm", asyncio.sleep, 60)


async def test_kill_tenant_reports_real_acknowledgements(plane, settings, acli):
    prometheus_client = pytest.importorskip("prometheus_client")
    from agentconsole.agent import AgentRuntime

    runtime = AgentRuntime(
        settings,
        registry=prometheus_client.CollectorRegistry(),
        heartbeat_interval=0.2,
        report_interval=0.1,
    )
    await runtime.start()
    tasks = []
    try:
        for tenant in ("acme", "acme", "other"):
            started = asyncio.Event()
            tasks.append(asyncio.create_task(_agent(runtime, started, user="u", tenant=tenant)))
            await asyncio.wait_for(started.wait(), 5)
        r = await acli("agents", "kill", "--tenant", "acme", "--yes", "--reason", "abuse")
        assert r.code == 0, r.err
        assert re.fullmatch(r"killed 2 agents, 2 acknowledged within \d+ ms\n", r.out), r.out
        done, _ = await asyncio.wait(tasks[:2], timeout=3)
        assert len(done) == 2 and not tasks[2].done()  # the other tenant's agent still runs
        listed = (await acli("--json", "agents", "list")).json()["agents"]
        statuses = sorted((a["tenant"], a["status"]) for a in listed)
        assert statuses == [("acme", "killed"), ("acme", "killed"), ("other", "running")]
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task
        await runtime.close()
