"""Network faults between SDK agents and Redis, through the project's own TCP proxy."""

from __future__ import annotations

import asyncio
import time

import pytest

from agentconsole.control import ControlPlane
from tests.fixtures.tcp_proxy import tcp_proxy

pytest.importorskip("agentconsole.agent.runtime")

AGENTS = 20


def _settings(url: str, prefix: str):
    from agentconsole.config import Settings

    s = Settings()
    s.redis.url, s.redis.prefix = url, prefix
    s.redis.connect_timeout, s.redis.socket_timeout = 0.5, 1.0
    s.operator.name, s.operator.role = "nina", "responder"
    return s


async def test_slow_and_flapping_network_loses_no_acknowledgement(redis_server):
    """150 ms each way, connections reset three times and refused for a while: the agents
    reconnect with backoff (no tight loop), obey the kill, and every ack reaches Redis."""
    from prometheus_client import CollectorRegistry

    from agentconsole.agent import AgentKilled, AgentRuntime

    prefix = f"net{time.time_ns()}"
    with tcp_proxy(redis_server.port) as proxy:
        operator = ControlPlane.from_settings(_settings(redis_server.url, prefix))
        await operator.check_schema()
        runtime = AgentRuntime(
            _settings(proxy.url(), prefix),
            registry=CollectorRegistry(),
            heartbeat_interval=0.2,
            report_interval=0.2,
            resync_interval=0.3,
        )
        await runtime.start()
        ready = asyncio.Semaphore(0)

        async def agent() -> None:
            async with runtime.run(task="net", tenant="acme"):
                ready.release()
                await asyncio.Event().wait()

        tasks = [asyncio.create_task(agent()) for _ in range(AGENTS)]
        try:
            for _ in tasks:
                await asyncio.wait_for(ready.acquire(), 10)
            ids = list(runtime._runs)
            proxy.delay(0.15)
            for _ in range(3):
                proxy.drop()
                await asyncio.sleep(0.2)  # let clients notice and reconnect between resets
            proxy.refuse()
            proxy.drop()
            since = time.time()
            await operator.kills.kill(tenant="acme", reason="flapping network")
            refused_at = time.monotonic()
            await asyncio.sleep(1.0)  # a second of refused reconnects: count the attempts
            attempts_per_second = proxy.refused / (time.monotonic() - refused_at)
            assert attempts_per_second < 40, f"reconnect loop: {attempts_per_second:.0f}/s"
            proxy.accept()
            results = await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 15)
            assert all(isinstance(r, AgentKilled) for r in results), {type(r) for r in results}
            report = await operator.kills.wait_for_acks(ids, since=since - 1, timeout=10)
            assert not report.missing, report.summary()
            assert not runtime.closed  # no crash: the runtime still serves new work
            await operator.kills.lift("tenant:acme")
            assert await runtime.wait_for_version(await operator.version(), timeout=10)
            async with runtime.run(task="after", tenant="acme"):
                pass
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await runtime.close()
            await operator.close()
