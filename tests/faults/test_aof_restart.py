"""redis-server with an append-only file, crashed (SIGKILL) and restarted under 100 agents.

With `appendfsync always` (docs/deploy.md) nothing acknowledged is lost: every flag, kill,
breaker, budget and audit entry is back, the epoch and the version are the same, so no
agent enters a reset, and every run keeps going on an engaged kill switch.
"""

from __future__ import annotations

import asyncio

from agentconsole.config import Settings
from agentconsole.control import ControlPlane, backup
from tests.fixtures.fleet import close_fleet, make_fleet, start_stepping
from tests.fixtures.redis import settings_for
from tests.fixtures.wait import eventually

RUNTIMES, RUNS_EACH = 4, 25


def _settings(url: str) -> Settings:
    return settings_for(url, "aof", connect_timeout=0.3, socket_timeout=1.0)


def _state(saved: dict) -> dict:
    return {k: v for k, v in saved.items() if k not in ("taken_at", "taken_by")}


async def test_aof_crash_and_restart_under_100_agents_loses_nothing(durable_redis):
    plane = ControlPlane.from_settings(_settings(durable_redis.url))
    await plane.check_schema()
    await plane.flags.create("tools", type="kill-switch", enabled=True)
    await plane.flags.disable("tools", reason="engaged")
    await plane.flags.create("fast-path", enabled=True)
    await plane.kills.kill(tenant="evil", reason="abuse")
    await plane.breakers.trip("payments", reason="outage")
    await plane.budgets.set("run_max_steps", 100000)
    runtimes = make_fleet(
        lambda: _settings(durable_redis.url), RUNTIMES, heartbeat_interval=0.3, resync_interval=0.3
    )
    tasks: list[asyncio.Task] = []
    try:
        tasks, steps = await start_stepping(runtimes, RUNS_EACH, "tools")
        version = await plane.version()
        await eventually(
            lambda: all(rt.applied_version == version for rt in runtimes) and min(steps) > 0,
            20,
            "every run going at the latest version",
        )
        before = _state(await backup.take(plane))
        audit_before = [e.id for e in await plane.audit.tail(100)]

        durable_redis.proc.kill()  # a crash: no shutdown, no final fsync
        durable_redis.proc.wait(5)
        durable_redis.proc = None
        durable_redis.start()

        for _ in range(50):  # the operator's pooled connections died with the old server
            try:
                await plane.check_schema()
                break
            except Exception:
                await asyncio.sleep(0.1)
        assert _state(await backup.take(plane)) == before  # flags, kills, breakers, budgets
        assert [e.id for e in await plane.audit.tail(100)] == audit_before
        assert await plane.version() == version and plane.reset is None
        past = list(steps)
        await eventually(
            lambda: all(s > p + 60 for s, p in zip(steps, past, strict=True)),
            30,
            "every run past the default step limit after the restart",
        )
        assert not any(t.done() for t in tasks), [t.exception() for t in tasks if t.done()]
        assert not any(rt.keeper.holding for rt in runtimes)  # same epoch: no reset
        await plane.flags.enable("tools", reason="fixed")  # and the plane works as before
        await eventually(
            lambda: all(rt.flags.enabled("tools") for rt in runtimes), 10, "a new change"
        )
    finally:
        await close_fleet(tasks, runtimes, plane)
