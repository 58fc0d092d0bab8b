"""redis-server with ``appendfsync everysec`` (the recommended setup): what a crash can lose.

Redis writes the append-only file before it answers (the fsync is what waits up to a
second), so a crash of the *process* (SIGKILL, an OOM kill) loses nothing acknowledged.
A crash of the *host* can lose the last second of changes: simulated here by cutting the
file back to what it held before the last change, as a power loss before the fsync would.
The agents then see the version go backwards and hold what they last obeyed, and the
control plane says so (docs/deploy.md, "What each setup loses").
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from agentconsole.config import Settings
from agentconsole.control import ControlPlane, backup
from agentconsole.control.epoch import VERSION_BACKWARDS
from tests.fixtures.fleet import close_fleet, make_fleet, start_stepping
from tests.fixtures.redis import RedisServer, settings_for, start_redis
from tests.fixtures.wait import eventually

RUNTIMES, RUNS_EACH = 2, 10


@pytest.fixture
def everysec_redis(tmp_path) -> Iterator[RedisServer]:
    yield from start_redis(
        ["--appendonly", "yes", "--appendfsync", "everysec", "--dir", str(tmp_path)]
    )


def _settings(url: str) -> Settings:
    return settings_for(url, "aof1s", connect_timeout=0.3, socket_timeout=1.0)


def _incr_file(workdir: Path) -> Path:
    """Redis 7's multi-part AOF: the changes since the base are in the ``incr`` file."""
    (found,) = sorted(workdir.glob("appendonlydir/*.incr.aof"))
    return found


async def _reconnect(plane: ControlPlane) -> None:
    for _ in range(50):  # the pooled connections died with the old server
        try:
            await plane.check_schema()
            return
        except Exception:
            await asyncio.sleep(0.1)


def _restart(server: RedisServer, cut_to: tuple[Path, int] | None = None) -> None:
    server.proc.kill()  # a crash: no shutdown, no final fsync
    server.proc.wait(5)
    server.proc = None
    if cut_to is not None:
        path, size = cut_to
        with path.open("r+b") as f:
            f.truncate(size)
    server.start()


def _state(saved: dict) -> dict:
    return {k: v for k, v in saved.items() if k not in ("taken_at", "taken_by")}


async def test_everysec_process_crash_loses_nothing_host_crash_the_last_second_held(
    everysec_redis, tmp_path
):
    plane = ControlPlane.from_settings(_settings(everysec_redis.url))
    await plane.check_schema()
    await plane.flags.create("tools", type="kill-switch", enabled=True)
    await plane.flags.disable("tools", reason="engaged")
    await plane.budgets.set("run_max_steps", 100000)
    runtimes = make_fleet(
        lambda: _settings(everysec_redis.url),
        RUNTIMES,
        heartbeat_interval=0.3,
        resync_interval=0.3,
    )
    tasks: list[asyncio.Task] = []
    try:
        tasks, steps = await start_stepping(runtimes, RUNS_EACH, "tools")
        before_last = await plane.version()
        await eventually(
            lambda: all(rt.applied_version == before_last for rt in runtimes),
            20,
            "every runtime at the latest version",
        )
        incr = _incr_file(tmp_path)
        size_before_last = incr.stat().st_size
        await plane.flags.create("late-feature", enabled=True)  # the change of the last second
        version = await plane.version()
        await eventually(
            lambda: all(rt.flags.enabled("late-feature") for rt in runtimes),
            20,
            "the last change applied",
        )
        saved = _state(await backup.take(plane))

        # 1. the process crashes: the file was written before the reply, nothing is lost
        _restart(everysec_redis)
        await _reconnect(plane)
        assert _state(await backup.take(plane)) == saved
        assert await plane.version() == version and plane.reset is None

        # 2. the host crashes before the fsync: the last change never reached the disk
        _restart(everysec_redis, cut_to=(incr, size_before_last))
        await _reconnect(plane)
        assert await plane.version() == before_last  # lost with it: the version went back
        await eventually(
            lambda: all(rt.keeper.holding for rt in runtimes), 20, "every runtime holding"
        )
        status = await plane.reset_status()
        assert status is not None and status.reason == VERSION_BACKWARDS
        assert all(rt.flags.enabled("late-feature") for rt in runtimes)  # what they obeyed
        past = list(steps)
        await eventually(
            lambda: all(s > p + 30 for s, p in zip(steps, past, strict=True)),
            30,
            "every run going on its held snapshot",
        )
        assert not any(t.done() for t in tasks), [t.exception() for t in tasks if t.done()]
    finally:
        await close_fleet(tasks, runtimes, plane)
