"""Kill acknowledgements at scale: what one kill stops in a process is acknowledged together.

A killed run leaves its ``async with`` only once its acknowledgement is in the registry;
the runs one kill stops in one process share one round trip (one ``kill_ack`` call per
registry partition, not a write per run); the kill in the rows follows at once and the
whole row with the heartbeat; and an acknowledgement that Redis could not take is written
when it is back, never lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

import pytest

from agentconsole.agent import AgentKilled
from agentconsole.control.operations import kill_and_wait
from tests.fixtures.redis import checked_plane, settings_for
from tests.fixtures.wait import eventually


async def _evalsha_calls(redis) -> int:
    stats = await redis.info("commandstats")
    return int(stats.get("cmdstat_evalsha", {}).get("calls", 0))


async def _blocked_runs(runtime, n: int, **kw) -> list[asyncio.Task]:
    started = 0
    all_in = asyncio.Event()

    async def agent(i: int) -> None:
        nonlocal started
        async with runtime.run(task="t", tenant=f"t{i % 3}", **kw) as run:
            started += 1
            if started == n:
                all_in.set()
            await run.call("llm", asyncio.Event().wait)

    tasks = [asyncio.create_task(agent(i)) for i in range(n)]
    await asyncio.wait_for(all_in.wait(), 30)
    return tasks


async def test_runs_leave_their_async_with_acknowledged_in_one_call_per_partition(plane, runtime):
    tasks = await _blocked_runs(runtime, 120)
    ids = list(runtime._runs)
    before = await _evalsha_calls(plane.redis)
    await plane.kills.kill(tenant="nobody", reason="what a kill costs by itself")
    own = await _evalsha_calls(plane.redis) - before
    before = await _evalsha_calls(plane.redis)
    outcome = await plane.kills.kill(everything=True, reason="stop the fleet")
    results = await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 30)
    assert all(isinstance(r, AgentKilled) for r in results)
    # every run is back in the caller's hands, so every acknowledgement is in already
    acked = await plane.agents.acknowledged(outcome.kill["id"])
    assert set(acked) == set(ids)
    assert (await plane.agents.status_counts())["killed"] == 120
    await eventually(lambda: _rows_say_killed(plane, ids, outcome.kill["id"]), what="the rows")
    calls = await _evalsha_calls(plane.redis) - before - own
    # one kill_ack and one kill_rows per partition, not one per run
    assert 2 <= calls <= 2 * plane.keys.partitions


async def _rows_say_killed(plane, ids: list[str], kill_id: str) -> bool:
    records = await plane.agents.get_many(ids)
    return {(r.status, r.kill_id, r.killed_by) for r in records} == {("killed", kill_id, "alice")}


async def test_the_rows_say_killed_at_once_not_a_heartbeat_later(plane, make_runtime):
    """The acknowledgement a run waits for is the indexes; the kill in the rows follows as
    soon as the runs are out, so the Agents view does not show them running for a beat."""
    runtime = await make_runtime(heartbeat_interval=3600)
    tasks = await _blocked_runs(runtime, 30)
    ids = list(runtime._runs)
    outcome = await plane.kills.kill(everything=True, reason="stop the fleet")
    results = await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 30)
    assert all(isinstance(r, AgentKilled) for r in results)
    await eventually(lambda: _rows_say_killed(plane, ids, outcome.kill["id"]), what="the rows")
    assert set(runtime._unsent) == set(ids)  # the whole rows still wait for their heartbeat


async def test_rows_reaped_before_the_kill_reached_them_are_not_recreated(plane):
    """kill_rows.lua adds the kill to rows that exist; a row already gone stays gone (the
    SDK's whole row, with its TTL, brings it back), while its acknowledgement counts."""
    from agentconsole.control.registry import AgentRecord

    kept, gone = AgentRecord(id="kept", tenant="acme"), AgentRecord(id="gone", tenant="acme")
    await plane.agents.write_many([kept, gone])
    outcome = await plane.kills.kill(tenant="acme", reason="reaped")
    await plane.redis.delete(plane.keys.partition_for("gone").agent("gone"))
    for rec in (kept, gone):
        rec.status, rec.kill_id, rec.kill_ack_at = "killed", outcome.kill["id"], time.time()
        rec.killed_by, rec.kill_reason = "alice", "reaped"
    await plane.agents.acknowledge_many([kept, gone])
    await plane.agents.record_kills([kept, gone])
    assert set(await plane.agents.acknowledged(outcome.kill["id"])) == {"kept", "gone"}
    assert not await plane.redis.exists(plane.keys.partition_for("gone").agent("gone"))
    (row,) = await plane.agents.get_many(["kept"])
    assert (row.status, row.kill_reason) == ("killed", "reaped")


async def test_kill_and_wait_counts_every_acknowledgement(plane, runtime):
    tasks = await _blocked_runs(runtime, 40)
    out = await kill_and_wait(plane, [{"tenant": "t1"}], reason="abuse", wait=30)
    assert out.text.startswith("killed 13 agents, all 13 acknowledged in Redis within ")
    assert not out.warning and not out.data["not_acknowledged"]
    results = await asyncio.gather(*tasks[1::3], return_exceptions=True)
    assert all(isinstance(r, AgentKilled) for r in results)
    assert runtime.active_runs == 27  # the other tenants' runs go on
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def test_the_whole_row_follows_the_acknowledgement(plane, make_runtime):
    plane.settings.prices = {}
    runtime = await make_runtime(heartbeat_interval=0.1)
    started = asyncio.Event()

    async def agent() -> None:
        async with runtime.run(task="t", tenant="acme") as run:
            run.step()
            run.step()
            started.set()
            await run.call("llm", asyncio.Event().wait)

    task = asyncio.create_task(agent())
    await asyncio.wait_for(started.wait(), 30)
    (run,) = runtime._runs.values()
    await plane.kills.kill(agent=run.id, reason="stuck")
    with pytest.raises(AgentKilled):
        await asyncio.wait_for(task, 30)
    deadline = time.monotonic() + 30
    while runtime._unsent and time.monotonic() < deadline:  # the next heartbeat sends it
        await asyncio.sleep(0.02)
    record = await plane.agents.get(run.id)
    assert record.status == "killed" and record.steps == 2 and record.kill_reason == "stuck"
    assert await plane.redis.ttl(plane.keys.partition_for(run.id).agent(run.id)) > 0


async def test_an_acknowledgement_redis_could_not_take_is_written_when_it_is_back(
    durable_redis, make_runtime, caplog
):
    settings = settings_for(durable_redis.url, "ackdown", connect_timeout=0.3)
    runtime = await make_runtime(
        settings=settings, heartbeat_interval=0.1, resync_interval=0.3, kill_deadline=60
    )
    seen, release = asyncio.Event(), asyncio.Event()

    async def agent() -> None:
        async with runtime.run(task="t", tenant="acme") as run:
            try:
                await run.call("llm", asyncio.Event().wait)
            except AgentKilled:
                seen.set()
                await asyncio.shield(release.wait())  # holds on while Redis goes away
                raise

    async with checked_plane(settings) as plane:
        task = asyncio.create_task(agent())
        while not runtime._runs:
            await asyncio.sleep(0.01)
        (run,) = runtime._runs.values()
        outcome = await plane.kills.kill(agent=run.id, reason="runaway")
        await asyncio.wait_for(seen.wait(), 30)
    durable_redis.kill()
    release.set()
    with pytest.raises(AgentKilled):  # the run is not held hostage by the outage
        await asyncio.wait_for(task, 30)
    assert run.id in runtime._unsent
    said = [r.getMessage() for r in caplog.records if r.name == "agentconsole.agent"]
    assert (
        said.count("kill acknowledgements not written: sent with the rows when Redis answers") == 1
    )
    durable_redis.start()
    async with checked_plane(settings) as plane:
        report = await plane.kills.wait_for_acks(
            [run.id], since=time.time() - 60, timeout=30, kill_ids=[outcome.kill["id"]]
        )
        assert list(report.acknowledged) == [run.id] and not report.missing
        deadline = time.monotonic() + 30
        record = None
        while time.monotonic() < deadline:
            with contextlib.suppress(Exception):
                record = await plane.agents.get(run.id)
            if record is not None and record.status == "killed":
                break
            await asyncio.sleep(0.05)
        assert record is not None and record.status == "killed" and record.kill_reason == "runaway"


async def test_acknowledged_ids_come_back_whole_whatever_their_characters(plane, runtime):
    """kill_ack.lua reads the ids out of one newline-separated argument: ids with spaces,
    dots and non-ASCII letters are acknowledged and indexed as they are."""
    ids = ["Acme Corp.agent 1", "müller-gmbh·2", "日本-3", "plain-4"]
    tasks = [asyncio.create_task(_one_blocked(runtime, agent_id)) for agent_id in ids]
    while len(runtime._runs) < len(ids):
        await asyncio.sleep(0.01)
    outcome = await plane.kills.kill(everything=True, reason="names")
    results = await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 30)
    assert all(isinstance(r, AgentKilled) for r in results)
    assert set(await plane.agents.acknowledged(outcome.kill["id"])) == set(ids)

    async def rows_killed() -> bool:
        records = await plane.agents.get_many(ids)
        return [(r.id, r.status) for r in records] == [(i, "killed") for i in ids]

    await eventually(rows_killed, what="the rows")
    killed, running = set(), set()
    for part in plane.keys.all_partitions():
        killed |= {m.decode() for m in await plane.redis.zrange(part.by_status("killed"), 0, -1)}
        running |= {m.decode() for m in await plane.redis.zrange(part.by_status("running"), 0, -1)}
    assert set(ids) <= killed and not set(ids) & running


async def _one_blocked(runtime, agent_id: str) -> None:
    async with runtime.run(task="t", tenant="Acme Corp", agent_id=agent_id) as run:
        await run.call("llm", asyncio.Event().wait)


async def test_index_scores_are_integers_and_an_older_sdks_seconds_still_count(plane, runtime):
    """Acknowledgement scores are integer milliseconds and status scores whole seconds (a
    small sorted set compares every score on insert: integers are not parsed). A fleet
    upgrading one process at a time also holds older SDKs' scores in seconds: the wait
    counts both, and both read back as times in seconds."""
    tasks = [asyncio.create_task(_one_blocked(runtime, f"new-{i}")) for i in range(3)]
    while len(runtime._runs) < 3:
        await asyncio.sleep(0.01)
    before = time.time()
    outcome = await plane.kills.kill(everything=True, reason="units")
    kill_id = outcome.kill["id"]
    old = plane.keys.partition_for("old-sdk-agent")
    await plane.redis.zadd(old.acks(kill_id), {"old-sdk-agent": time.time()})  # seconds
    await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 30)
    for i in range(3):
        part = plane.keys.partition_for(f"new-{i}")
        raw = await plane.redis.zscore(part.acks(kill_id), f"new-{i}")
        assert raw == int(raw) and before * 1000 - 1 <= raw <= time.time() * 1000
        entered = await plane.redis.zscore(part.by_status("killed"), f"new-{i}")
        assert entered == int(entered) and int(before) <= entered <= time.time()
    acked = await plane.agents.acknowledged(kill_id)
    assert set(acked) == {"old-sdk-agent", "new-0", "new-1", "new-2"}
    assert all(before - 1 <= at <= time.time() for at in acked.values())
    assert set(await plane.agents.acknowledged(kill_id, after=time.time() + 60)) == set()
    report = await plane.kills.wait_for_acks(
        ["old-sdk-agent", "new-0", "new-1", "new-2"], since=before, timeout=10
    )
    assert len(report.acknowledged) == 4 and not report.missing and not report.ended


async def test_a_partition_with_more_runs_than_one_call_takes_is_acknowledged_whole(
    plane, runtime, monkeypatch
):
    """A script holds Redis for its whole run, so one call takes at most ACK_CALL agents:
    a partition holding more is sent in several calls, and every run is acknowledged."""
    from agentconsole.control import registry

    monkeypatch.setattr(registry, "ACK_CALL", 2)
    tasks = await _blocked_runs(runtime, 40)
    ids = list(runtime._runs)
    before = await _evalsha_calls(plane.redis)
    outcome = await plane.kills.kill(everything=True, reason="chunks")
    results = await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 30)
    assert all(isinstance(r, AgentKilled) for r in results)
    assert set(await plane.agents.acknowledged(outcome.kill["id"])) == set(ids)
    assert await _evalsha_calls(plane.redis) - before >= 40 // 2
