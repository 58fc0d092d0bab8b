"""Heartbeats that send only what changed answer every reader as if everything were sent.

The SDK's ``WriteMemo`` keeps what one process last wrote for its agents; a heartbeat then
writes the heartbeat index always and a field or an index member only when its value
moved. These tests compare a registry written that way with one written whole every beat.
"""

from __future__ import annotations

import time

from agentconsole.control.registry import HEARTBEAT_FIELDS, AgentRecord, WriteMemo
from tests.fixtures.redis import checked_plane, settings_for


def fleet(n: int) -> list[AgentRecord]:
    return [AgentRecord(id=f"hb{i:03d}", tenant=f"t{i % 4}", task="job") for i in range(n)]


async def _reads(plane, ids: list[str]) -> list[object]:
    records = await plane.agents.get_many(ids)
    rows = sorted(
        (r.id, r.steps, r.tokens, round(r.cost, 6), r.heartbeat_at, r.applied_version, r.status)
        for r in records
    )
    return [
        rows,
        [a.id for a in await plane.agents.list(order="cost", limit=10)],
        [a.id for a in await plane.agents.list(order="tokens", limit=10)],
        [a.id for a in await plane.agents.list(tenant="t2", order="heartbeat", limit=100)],
        await plane.agents.applied_counts(),
        await plane.agents.status_counts(),
        await plane.agents.live_running("t1"),
    ]


async def _beats(plane, rows: list[AgentRecord], memo: WriteMemo | None, start: float) -> None:
    await plane.agents.write_many(rows, memo=memo, at=start)
    for k in range(1, 7):
        for r in rows[k % 3 :: 3]:  # a third of them did some work since the last beat
            r.steps, r.tokens_in, r.cost = r.steps + 1, r.tokens_in + 100 * k, r.cost + 0.01
        if k == 4:
            for r in rows[:10]:
                r.applied_version = 2  # a change reached ten of them
        await plane.agents.write_many(
            rows, HEARTBEAT_FIELDS, refresh_ttl=False, memo=memo, at=start + 2 * k
        )


async def _commands(plane) -> int:
    return int((await plane.redis.info("stats"))["total_commands_processed"])


async def test_changed_only_heartbeats_answer_like_whole_ones(plane, redis_server, redis_prefix):
    async with checked_plane(settings_for(redis_server.url, f"{redis_prefix}whole")) as whole:
        await whole.flags.create("f1")
        await whole.flags.create("f2")  # version 2, as in the memo's registry
        await plane.flags.create("f1")
        await plane.flags.create("f2")
        start = time.time()
        rows = fleet(60)
        await _beats(whole, rows, None, start)
        rows = fleet(60)
        await _beats(plane, rows, WriteMemo(), start)
        ids = [r.id for r in rows]
        assert await _reads(plane, ids) == await _reads(whole, ids)
        (last,) = {r.heartbeat_at for r in await plane.agents.get_many(ids)}
        assert last == start + 12  # alive at the last beat, though only its index said so


async def test_an_idle_agent_costs_no_command_of_its_own(plane):
    rows = fleet(200)
    memo = WriteMemo()
    step = plane.agents.coarse_step
    start = (time.time() // step) * step + 0.5  # two beats within one liveness step
    await plane.agents.write_many(rows, memo=memo, at=start)
    before = await _commands(plane)
    await plane.agents.write_many(
        rows, HEARTBEAT_FIELDS, refresh_ttl=False, memo=memo, at=start + 2
    )
    idle = await _commands(plane) - before
    assert idle <= plane.keys.partitions + 1  # a ZADD per partition, nothing per agent
    before = await _commands(plane)
    await plane.agents.write_many(rows, HEARTBEAT_FIELDS, refresh_ttl=False, at=start + 4)
    assert await _commands(plane) - before > len(rows)  # without the memo: one HSET each


async def test_what_redis_lost_comes_back_with_the_next_whole_write(plane):
    rows = fleet(40)
    memo = WriteMemo()
    start = time.time()
    await plane.agents.write_many(rows, memo=memo, at=start)
    for part in plane.keys.all_partitions():  # a write lost in a failover, say
        await plane.redis.delete(part.by_cost, part.by_tenant("t3"))
    await plane.agents.write_many(rows, HEARTBEAT_FIELDS, refresh_ttl=False, memo=memo)
    assert await plane.agents.list(order="cost", limit=5) == []  # skipped: unchanged
    # the SDK renews the TTL every quarter of it, and that write is whole
    await plane.agents.write_many(rows, HEARTBEAT_FIELDS, refresh_ttl=True, memo=memo)
    assert len(await plane.agents.list(order="cost", limit=100)) == 40
    assert len(await plane.agents.list(tenant="t3", limit=100)) == 10
    memo.clear()  # what the SDK does when its connection to Redis was lost
    for part in plane.keys.all_partitions():
        await plane.redis.delete(part.by_cost)
    await plane.agents.write_many(rows, HEARTBEAT_FIELDS, refresh_ttl=False, memo=memo)
    assert len(await plane.agents.list(order="cost", limit=100)) == 40


async def test_an_ended_run_is_forgotten(plane):
    rows = fleet(3)
    memo = WriteMemo()
    await plane.agents.write_many(rows, memo=memo)
    rows[0].status = "finished"
    await plane.agents.write_many([rows[0]], memo=memo)
    assert set(memo.rows) == {rows[1].id, rows[2].id}
    memo.retain({rows[2].id})
    assert set(memo.rows) == {rows[2].id}


async def test_housekeepings_tenant_list_moves_with_whole_writes_only(plane):
    """A heartbeat that sends what changed leaves the tenants list alone (no reader shows
    it); the whole write of a TTL renewal renews it, and prune still keeps a live tenant."""
    rows, memo, start = fleet(8), WriteMemo(), time.time() - 400
    await plane.agents.write_many(rows, memo=memo, at=start)
    part = plane.keys.partition(plane.keys.partition_of(rows[0].id))
    listed = dict(await plane.redis.zrange(part.tenants, 0, -1, withscores=True))
    for k in range(1, 4):
        await plane.agents.write_many(
            rows, HEARTBEAT_FIELDS, refresh_ttl=False, at=start + 100 * k, memo=memo
        )
    assert dict(await plane.redis.zrange(part.tenants, 0, -1, withscores=True)) == listed
    await plane.agents.write_many(rows, HEARTBEAT_FIELDS, refresh_ttl=True, at=start + 400)
    renewed = dict(await plane.redis.zrange(part.tenants, 0, -1, withscores=True))
    assert renewed.keys() == listed.keys()
    assert all(renewed[t] > listed[t] for t in listed)
    await plane.agents.prune()
    assert sorted(await plane.agents.live_running(rows[0].tenant)) == sorted(
        r.id for r in rows if r.tenant == rows[0].tenant
    )
