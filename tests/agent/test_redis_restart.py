"""Redis restarted in the middle of runs: agents keep going, the snapshot resyncs."""

import asyncio
import time

import pytest

from agentconsole.config import ModelPrice, Settings
from tests.fixtures.redis import start_redis


@pytest.fixture
def private_redis():
    """Our own server: killing the shared session server would break other tests."""
    gen = start_redis()
    server = next(gen)
    yield server
    gen.close()


async def eventually(check, timeout: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


async def test_redis_restart_mid_run(private_redis, make_runtime):
    from agentconsole.control import ControlPlane

    settings = Settings()
    settings.redis.url = private_redis.url
    settings.redis.prefix = "restart"
    settings.redis.connect_timeout = 0.3
    settings.operator.name, settings.operator.role = "alice", "admin"
    settings.prices = {"m": ModelPrice(0.001, 0.002)}
    plane = ControlPlane.from_settings(settings)
    rt = await make_runtime(settings=settings, resync_interval=0.3, heartbeat_interval=0.1)
    try:
        await plane.flags.create("fast-path", enabled=True)
        await rt.wait_for_version(await plane.version())
        stop = asyncio.Event()
        progress = [0] * 5
        runs = []

        async def agent(i: int) -> str:
            async with rt.run(task=f"job {i}", user=f"u{i}", tenant="acme") as run:
                runs.append(run)
                while not stop.is_set():
                    run.step(0)  # checks kills and limits without counting
                    await run.call("llm", asyncio.sleep, 0.01)
                    await run.charge(model="m", input_tokens=10, output_tokens=5)
                    run.flag("fast-path")
                    progress[i] += 1
            return run.outcome

        tasks = [asyncio.create_task(agent(i)) for i in range(5)]
        await eventually(lambda: min(progress) > 3, what="agents running")

        private_redis.kill()
        await eventually(lambda: not rt.connected, what="the runtime to notice")
        before = sum(progress)
        await eventually(lambda: sum(progress) > before + 50, what="progress while Redis is down")
        assert rt.snapshot is not None and rt.flags.enabled("fast-path")

        private_redis.start()  # empty: nothing was persisted
        await eventually(lambda: rt.connected, what="reconnect")
        for _ in range(3):  # the operator's pooled connection died with the old server
            try:
                await plane.check_schema()
                break
            except Exception:
                continue
        await plane.flags.create("after-restart", enabled=True)
        await eventually(lambda: rt.flags.enabled("after-restart"), what="resync after restart")
        assert not rt.flags.enabled("fast-path")  # the new Redis has no such flag

        stop.set()
        assert await asyncio.wait_for(asyncio.gather(*tasks), 5) == ["success"] * 5
        # what was used and registered while Redis was away was sent afterwards
        await eventually(lambda: not rt.budget.offline_pending and not rt._unsent, what="flush")
        usage = await plane.budgets.usage()
        assert sum(u["tokens"] for u in usage.values()) > 0
        records = await plane.agents.get_many([r.id for r in runs])
        assert {r.status for r in records} == {"finished"}
    finally:
        await plane.close()
