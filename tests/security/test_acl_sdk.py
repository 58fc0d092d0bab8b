"""The real agent SDK works with nothing more than the ``agent`` Redis user's grants.

This is what keeps the agent ACL honest: registry writes, heartbeats, the breaker
transition script (with its event), budget reserve/commit and kill acknowledgement all go
through the commands the SDK really sends, against a redis-server enforcing the ACL.
"""

from __future__ import annotations

import asyncio
import logging

import pytest

from tests.fixtures.wait import killed_row

pytest.importorskip("agentconsole.agent.runtime")


async def _until(check, timeout: float = 5.0) -> None:
    async def loop() -> None:
        while not await check():
            await asyncio.sleep(0.02)

    await asyncio.wait_for(loop(), timeout)


async def test_sdk_agent_with_agent_credentials(acl_redis, plane_for, caplog):
    from prometheus_client import CollectorRegistry

    from agentconsole.agent import AgentKilled, AgentRuntime, BreakerConfig, RetryPolicy
    from agentconsole.config import ModelPrice

    caplog.set_level(logging.DEBUG)
    settings = acl_redis.settings("agent")
    settings.prices = {"m1": ModelPrice(input_per_1k=0.001, output_per_1k=0.002)}
    runtime = AgentRuntime(
        settings,
        registry=CollectorRegistry(),
        heartbeat_interval=0.1,
        report_interval=0.1,
        breaker=BreakerConfig(window=4, min_calls=2, wait_open=60),
        retry=RetryPolicy(max_attempts=1),
    )
    await runtime.start()
    admin = plane_for("admin")
    responder = plane_for("responder")
    started, stop = asyncio.Event(), asyncio.Event()

    async def failing() -> None:
        raise ConnectionError("provider down")

    async def agent() -> None:
        async with runtime.run(task="acl-check", user="u-acl", tenant="t-acl") as run:
            await run.charge(model="m1", input_tokens=100, output_tokens=50)
            for _ in range(3):
                try:
                    await run.call("flaky-llm", failing)
                except Exception:  # failures are the point: they open the breaker
                    continue
            started.set()
            await stop.wait()

    task = asyncio.create_task(agent())
    try:
        await asyncio.wait_for(started.wait(), 30)
        (run_id,) = list(runtime._runs)

        async def breaker_open() -> bool:
            views, _ = await admin.breakers.list()
            return any(v.dependency == "flaky-llm" and v.observed.state == "open" for v in views)

        await _until(breaker_open)
        usage = await admin.budgets.usage()
        assert usage["u-acl"]["tokens"] == 150
        await responder.kills.kill(agent=run_id, reason="acl test")
        with pytest.raises(AgentKilled):
            await asyncio.wait_for(task, 30)
        record = await killed_row(admin, run_id)
        assert record is not None and record.status == "killed" and record.kill_ack_at > 0
    finally:
        stop.set()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await runtime.close()
    refused = [r.getMessage() for r in caplog.records if "NOPERM" in r.getMessage()]
    refused += [r.getMessage() for r in caplog.records if "can't" in r.getMessage()]
    assert not refused, refused
