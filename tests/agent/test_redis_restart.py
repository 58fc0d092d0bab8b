"""Redis restarted in the middle of runs: agents keep going, the snapshot resyncs.

Restarted *empty* (no persistence), the control plane is gone: the agents hold their last
snapshot (kill switch engaged, raised step limit) and every run keeps going, until the
operator restores the backup, which they then adopt.
"""

import asyncio
import contextlib
import time

import pytest

from agentconsole.config import ModelPrice, Settings
from tests.fixtures.redis import start_redis
from tests.fixtures.wait import eventually


@pytest.fixture
def private_redis():
    """Our own server: killing the shared session server would break other tests."""
    gen = start_redis()
    server = next(gen)
    yield server
    gen.close()


async def reset_seen(plane, timeout: float = 10.0) -> None:
    """What the CLI's and the console's schema check says (the report lands with a sync)."""
    deadline = time.monotonic() + timeout
    while True:
        # the operator's pooled connection may have died with the old server
        with contextlib.suppress(Exception):
            await plane.check_schema()
        if plane.reset is not None:
            return
        assert time.monotonic() < deadline, "the reset was never reported"
        await asyncio.sleep(0.05)


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
        from agentconsole.control import backup

        await plane.check_schema()
        await plane.flags.create("fast-path", enabled=True)
        await plane.flags.create("tools", type="kill-switch", enabled=True)
        await plane.flags.disable("tools", reason="engaged")
        await plane.budgets.set("run_max_steps", 100000)
        saved = await backup.take(plane)
        await rt.wait_for_version(await plane.version())
        stop = asyncio.Event()
        progress = [0] * 5
        runs = []

        async def agent(i: int) -> str:
            async with rt.run(task=f"job {i}", user=f"u{i}", tenant="acme") as run:
                runs.append(run)
                while not stop.is_set():
                    run.step()  # counts, and checks kills and limits
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
        await eventually(lambda: rt.keeper.holding, what="the runtime to hold its snapshot")
        # the empty state is not applied: flags, the engaged kill switch, the step limit hold
        assert rt.flags.enabled("fast-path") and not rt.flags.enabled("tools", default=True)
        assert rt.snapshot.limits.run_max_steps == 100000
        past = max(progress)
        await eventually(lambda: min(progress) > max(past, 60), what="runs past 50 steps")
        assert not any(t.done() for t in tasks)
        await reset_seen(plane)
        assert await plane.redis.get(plane.keys.schema) is None  # not silently re-stamped
        assert "holding their last snapshot" in plane.reset.banner()

        decision = await backup.restore(plane, saved, reason="Redis came back empty")
        await eventually(lambda: not rt.keeper.holding, what="the runtime to adopt the restore")
        assert rt.snapshot.epoch.id == decision.epoch.id
        assert rt.flags.enabled("fast-path") and not rt.flags.enabled("tools", default=True)
        await plane.flags.create("after-restart", enabled=True)
        await eventually(lambda: rt.flags.enabled("after-restart"), what="changes apply again")

        stop.set()
        assert await asyncio.wait_for(asyncio.gather(*tasks), 30) == ["success"] * 5
        # what was used and registered while Redis was away was sent afterwards
        await eventually(lambda: not rt.budget.offline_pending and not rt._unsent, what="flush")
        usage = await plane.budgets.usage()
        assert sum(u["tokens"] for u in usage.values()) > 0
        records = await plane.agents.get_many([r.id for r in runs])
        assert {r.status for r in records} == {"finished"}
    finally:
        await plane.close()
