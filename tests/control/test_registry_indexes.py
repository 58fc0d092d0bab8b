"""The registry's partitions and indexes: what an operator reads costs what it touches.

Listings, counts, a kill's affected agents and its acknowledgements are answered by the
per-partition indexes; these tests check the answers (the costs are bench/bench_scale.py's).
"""

from __future__ import annotations

import time

import pytest

from agentconsole.control import ControlPlane, SchemaMismatch
from agentconsole.control.registry import AgentRecord


def fleet(n: int, tenant_size: int = 10) -> list[AgentRecord]:
    return [
        AgentRecord(id=f"a{i:04d}", tenant=f"t{i // tenant_size}", cost=i / 100, tokens_in=i)
        for i in range(n)
    ]


async def test_the_registry_spreads_over_its_partitions(plane):
    await plane.agents.write_many(fleet(200))
    used = set()
    for n, part in enumerate(plane.keys.all_partitions()):
        if await plane.redis.zcard(part.by_heartbeat):
            used.add(n)
    assert used == set(range(plane.keys.partitions))
    tags = {part.tag for part in plane.keys.all_partitions()}
    assert len(tags) == plane.keys.partitions and plane.keys.tag not in tags


async def test_top_n_is_the_merge_of_every_partition(plane):
    await plane.agents.write_many(fleet(300))
    top = await plane.agents.list(order="cost", limit=7)
    assert [a.id for a in top] == [f"a{i:04d}" for i in range(299, 292, -1)]
    by_tokens = await plane.agents.list(order="tokens", limit=3)
    assert [a.tokens for a in by_tokens] == [299, 298, 297]
    assert await plane.agents.count() == 300


async def test_tenant_and_status_listings_read_their_own_index(plane):
    records = fleet(100)
    await plane.agents.write_many(records)
    await plane.agents.finish(records[31], "finished")
    await plane.agents.acknowledge_kill(records[32], {"id": "k1", "requester": "bob"})
    t3 = await plane.agents.list(tenant="t3", order="cost", limit=100)
    assert [a.id for a in t3] == [f"a{i:04d}" for i in range(39, 29, -1)]
    running = await plane.agents.list(tenant="t3", status="running", limit=100)
    assert {a.id for a in running} == {f"a{i:04d}" for i in range(30, 40)} - {"a0031", "a0032"}
    killed = await plane.agents.list(status="killed", limit=100)
    assert [(a.id, a.kill_id) for a in killed] == [("a0032", "k1")]
    counts = await plane.agents.status_counts()
    assert counts == {"live": 100, "running": 98, "killed": 1, "finished": 1, "failed": 0}


async def test_a_status_write_moves_the_agent_between_status_indexes(plane):
    (rec,) = fleet(1)
    await plane.agents.register(rec)
    await plane.agents.acknowledge_kill(rec, {"id": "k9"})
    await plane.agents.finish(rec, "finished")
    part = plane.keys.partition_for(rec.id)
    assert await plane.redis.zscore(part.by_status("finished"), rec.id) is not None
    for status in ("running", "killed", "failed"):
        assert await plane.redis.zscore(part.by_status(status), rec.id) is None, status
    assert await plane.redis.zscore(part.acks("k9"), rec.id) is not None  # the ack stays


async def test_header_counts_follow_the_applied_version_and_liveness(plane):
    await plane.flags.create("f1")
    await plane.flags.create("f2")  # version 2
    records = fleet(30)
    for rec in records:
        rec.applied_version = 2 if int(rec.id[1:]) < 20 else 1
    await plane.agents.write_many(records)
    assert await plane.agents.applied_counts() == (20, 30, 2)
    for rec in records[20:25]:  # five catch up: they leave version 1's set for version 2's
        rec.applied_version = 2
    await plane.agents.write_many(records[20:25])
    assert await plane.agents.applied_counts() == (25, 30, 2)
    await plane.agents.write_many(records[:5], at=time.time() - 3600)  # five fall silent
    assert await plane.agents.applied_counts() == (20, 25, 2)
    ttl = await plane.redis.ttl(plane.keys.partition_for(records[25].id).applied(1))
    assert 0 < ttl <= plane.agents.applied_ttl  # old versions' sets go away by themselves


async def test_a_tenant_kill_lists_exactly_that_tenants_running_agents(plane):
    records = fleet(60)
    await plane.agents.write_many(records)
    await plane.agents.finish(records[12], "finished")  # t1, not running: not affected
    await plane.agents.write_many([records[13]], at=time.time() - 3600)  # t1, dead
    outcome = await plane.kills.kill(tenant="t1", reason="test")
    expected = {f"a{i:04d}" for i in range(10, 20)} - {"a0012", "a0013"}
    assert set(outcome.agents) == expected
    for rec in records[10:12]:
        await plane.agents.acknowledge_kill(rec, outcome.kill)
    again = await plane.kills.affected("tenant:t1", outcome.kill["id"])
    assert {a.id for a in again} == expected
    assert {a.id for a in again if a.status == "killed"} == {"a0010", "a0011"}
    assert {a.id for a in await plane.kills.affected("tenant:t1")} == expected - {
        "a0010",
        "a0011",
    }


async def test_a_global_kill_lists_the_live_running_agents_not_the_silent_rows(plane):
    """Rows stay in the heartbeat index until they are reaped; the kill's listing drops the
    silent ones inside Redis (the intersection is scored by heartbeat), whatever their
    number, and finished agents are not in the running index at all."""
    records = fleet(40)
    await plane.agents.write_many(records[:30])
    await plane.agents.write_many(records[30:], at=time.time() - 3600)  # said running, silent
    await plane.agents.finish(records[0], "finished")
    outcome = await plane.kills.kill(everything=True, reason="test")
    assert set(outcome.agents) == {r.id for r in records[1:30]}


async def test_waiting_for_acks_reads_the_kills_ack_index(plane):
    records = fleet(40)
    await plane.agents.write_many(records)
    since = time.time()
    outcome = await plane.kills.kill(everything=True, reason="test")
    assert len(outcome.agents) == 40
    for rec in records[:30]:
        rec.status = "killed"
        rec.kill_id, rec.kill_ack_at = outcome.kill["id"], time.time()
    await plane.agents.write_many(records[:30])
    await plane.agents.finish(records[30], "finished")  # stopped on its own: not waited for
    report = await plane.kills.wait_for_acks(
        outcome.agents, since, timeout=0.3, kill_ids=[outcome.kill["id"]]
    )
    assert set(report.acknowledged) == {r.id for r in records[:30]}
    assert report.missing == sorted(r.id for r in records[31:])


async def test_a_registry_written_by_the_previous_layout_is_upgraded(plane, plane_as):
    """v1 kept every agent under the control tag; `agents upgrade` moves them, once."""
    k = plane.keys
    old = time.time() - 5
    for i in range(2500):  # more than one migration chunk
        agent_id = f"old-{i}"
        await plane.redis.hset(
            k.legacy_agent(agent_id),
            mapping={
                "id": agent_id,
                "tenant": f"t{i % 3}",
                "status": "running",
                "heartbeat_at": str(old),
                "cost": str(i),
                "applied_version": "0",
            },
        )
    legacy = dict.fromkeys((f"old-{i}" for i in range(2500)), old)
    for index in k.legacy_indexes:
        await plane.redis.zadd(index, legacy)
    assert await plane.agents.has_legacy()
    with pytest.raises(Exception, match="needs the admin role"):
        await plane_as("r", "responder").agents.migrate_legacy()
    assert await plane.agents.migrate_legacy(reason="upgrade") == 2500
    assert not await plane.agents.has_legacy()
    assert not await plane.redis.exists(*k.legacy_indexes, k.legacy_agent("old-1"))
    assert await plane.agents.count() == 2500
    (top,) = await plane.agents.list(order="cost", limit=1)
    assert (top.id, top.tenant, round(top.heartbeat_at)) == ("old-2499", "t0", round(old))
    assert len(await plane.agents.list(tenant="t1", limit=10_000)) == 833
    assert (await plane.audit.tail(1))[0].action == "registry.upgrade"
    assert await plane.agents.migrate_legacy() == 0


async def test_a_process_with_another_partition_count_is_refused(plane, settings):
    await plane.check_schema()  # the admin stamped 16
    settings.registry.partitions = 8
    other = ControlPlane.from_settings(settings)
    try:
        with pytest.raises(SchemaMismatch, match="has 16 partitions, this configuration says 8"):
            await other.check_schema()
    finally:
        await other.close()


async def test_at_100001_agents_every_agent_is_reported(plane):
    """Correctness at scale: nothing silently capped (the v1 listing stopped at 100,000)."""
    plane.settings.registry.dead_after_seconds = 3600  # a busy machine fills slowly
    n, batch = 100_001, 2000
    for start in range(0, n, batch):
        rows = [
            AgentRecord(id=f"s{i:06d}", tenant=f"t{i // 250:04d}")
            for i in range(start, min(n, start + batch))
        ]
        await plane.agents.write_many(rows)
    outcome = await plane.kills.kill(tenant="t0123", reason="scale")
    assert sorted(outcome.agents) == [f"s{i:06d}" for i in range(123 * 250, 124 * 250)]
    stop = await plane.kills.kill(everything=True, reason="scale")
    assert len(stop.agents) == n and len(set(stop.agents)) == n
    assert await plane.agents.applied_counts() == (0, n, 2)  # none applied version 2 yet


async def test_a_heartbeat_may_leave_the_ttl_alone(plane, settings):
    """The SDK renews an agent's TTL once every quarter of it, not on every heartbeat."""
    from agentconsole.control.registry import HEARTBEAT_FIELDS

    (rec,) = fleet(1)
    await plane.agents.register(rec)  # TTL = reap_after_seconds (600)
    settings.registry.reap_after_seconds = 30
    await plane.agents.write_many([rec], HEARTBEAT_FIELDS, refresh_ttl=False)
    assert await plane.redis.ttl(plane.keys.agent(rec.id)) > 30
    await plane.agents.write_many([rec], HEARTBEAT_FIELDS)
    assert 0 < await plane.redis.ttl(plane.keys.agent(rec.id)) <= 30


async def test_a_filtered_listing_ranks_in_redis_and_reads_only_what_it_returns(plane):
    records = fleet(200)
    await plane.agents.write_many(records)
    for rec in records[::10]:  # 20 finished, every tenth
        await plane.agents.finish(rec, "finished")
    top = await plane.agents.list(status="finished", order="cost", limit=3)
    assert [a.id for a in top] == ["a0190", "a0180", "a0170"]
    mine = await plane.agents.list(tenant="t5", status="running", order="tokens", limit=2)
    assert [a.id for a in mine] == ["a0059", "a0058"]
    await plane.kills.kill(tenant="t5")
    assert [a.id for a in await plane.agents.list(status="killing", limit=1)] == ["a0059"]


async def test_one_process_prunes_a_partition_per_lease(plane, plane_as, settings):
    settings.registry.reap_after_seconds = 30
    await plane.agents.write_many(fleet(50), at=time.time() - 60)  # all silent
    other = plane_as("agent-2", "viewer")
    first = await plane.agents.prune(lease=60)
    assert first == 50 and await other.agents.prune(lease=60) == 0  # leases taken
    await plane.agents.write_many(fleet(5), at=time.time() - 60)
    assert await other.agents.prune(lease=60) == 0  # still within the lease
    assert await other.agents.prune() == 5  # without a lease: prunes everything


async def test_liveness_scores_are_rounded_up_so_a_heartbeat_rarely_moves_them(plane, settings):
    settings.registry.dead_after_seconds = 30  # step: 5 s
    (rec,) = fleet(1)
    part = plane.keys.partition_for(rec.id)
    for at in (1_000_000_000.2, 1_000_000_002.2, 1_000_000_004.9):  # one step: one score
        await plane.agents.write_many([rec], at=at)
        assert await plane.redis.zscore(part.by_tenant(rec.tenant), rec.id) == 1_000_000_005
        assert await plane.redis.zscore(part.applied(0), rec.id) == 1_000_000_005
        assert await plane.redis.zscore(part.by_heartbeat, rec.id) == at  # exact
