"""The agent registry: indexes, derived status, leniency with buggy agents, reaping."""

from __future__ import annotations

import time

from agentconsole.control.registry import AgentRecord


async def test_register_heartbeat_finish(plane):
    rec = AgentRecord(id="a1", task="summarise", user="u1", tenant="acme", model="m", trace_id="t")
    await plane.agents.register(rec)
    got = await plane.agents.get("a1")
    assert (got.task, got.user, got.tenant, got.status) == ("summarise", "u1", "acme", "running")
    assert got.started_at > 0 and got.heartbeat_at >= got.started_at
    rec.steps, rec.tokens_in, rec.tokens_out, rec.cost, rec.applied_version = 3, 100, 50, 0.2, 7
    await plane.agents.heartbeat(rec)
    await plane.agents.heartbeat(rec)  # absolute values: a retry changes nothing
    got = await plane.agents.get("a1")
    assert (got.steps, got.tokens, got.cost, got.applied_version) == (3, 150, 0.2, 7)
    await plane.agents.finish(rec, "finished")
    assert (await plane.agents.get("a1")).status == "finished"
    assert await plane.agents.exists("a1") and not await plane.agents.exists("zz")
    assert await plane.agents.get("zz") is None


async def test_ordered_listing_reads_only_the_top_n(plane):
    for i in range(30):
        await plane.agents.register(
            AgentRecord(id=f"a{i:02}", tokens_in=i * 10, cost=(30 - i) / 100)
        )
    top = await plane.agents.list(order="tokens", limit=3)
    assert [r.id for r in top] == ["a29", "a28", "a27"]
    cheap_last = await plane.agents.list(order="cost", limit=2)
    assert [r.id for r in cheap_last] == ["a00", "a01"]
    fresh = await plane.agents.list(order="heartbeat", limit=5)
    assert len(fresh) == 5 and fresh[0].id == "a29"
    assert await plane.agents.count() == 30


async def test_dead_and_killing_are_derived(plane, settings):
    settings.registry.dead_after_seconds = 30
    # silent for a minute: its last heartbeat (row and heartbeat index) is that old
    await plane.agents.write_many([AgentRecord(id="quiet", tenant="t")], at=time.time() - 60)
    await plane.agents.register(AgentRecord(id="busy", tenant="acme"))
    await plane.kills.kill(tenant="acme")
    by_id = {r.id: r.status for r in await plane.agents.get_many(["quiet", "busy", "gone"])}
    assert by_id == {"quiet": "dead", "busy": "killing"}


async def test_buggy_agent_values_never_crash_a_reader(plane):
    await plane.redis.hset(
        plane.keys.agent("bad"),
        mapping={
            "task": b"\xff\xfe task",
            "tokens_in": "lots",
            "cost": "nan",
            "steps": "inf",
            "status": "exploded",
            "heartbeat_at": str(time.time()),
        },
    )
    await plane.redis.zadd(plane.keys.partition_for("bad").by_heartbeat, {"bad": time.time()})
    (rec,) = await plane.agents.list()
    assert rec.task.endswith(" task") and "\ufffd" in rec.task
    assert (rec.tokens_in, rec.cost, rec.steps, rec.status) == (0, 0.0, 0, "running")


async def test_applied_counts_and_reap(plane, settings):
    await plane.flags.create("f")  # control-plane version 1
    for agent_id, version in (("a", 1), ("b", 0)):
        await plane.agents.register(AgentRecord(id=agent_id, applied_version=version))
    old = AgentRecord(id="old", applied_version=1)
    await plane.agents.write_many([old], at=time.time() - 3600)
    assert await plane.agents.applied_counts() == (1, 2, 1)  # "old" is dead: not counted
    await plane.kills.kill(agent="old")
    settings.registry.reap_after_seconds = 600
    assert await plane.agents.reap() == 1
    assert await plane.agents.get("old") is None and await plane.agents.count() == 2
    assert "agent:old" not in (await plane.kills.list())[0]
    assert await plane.agents.reap() == 0


async def test_reap_is_a_responder_action_and_audited(plane, plane_as):
    import pytest

    from agentconsole.control import PermissionDenied

    await plane.agents.write_many([AgentRecord(id="gone")], at=time.time() - 7200)
    with pytest.raises(PermissionDenied):
        await plane_as("v", "viewer").agents.reap()
    assert await plane_as("r", "responder").agents.reap(reason="tidy") == 1
    entry = (await plane.audit.tail(1))[0]
    assert (entry.action, entry.actor, entry.role, entry.target) == (
        "agent.reap",
        "r",
        "responder",
        "1 agent",
    )


async def test_silent_agents_expire_and_leave_the_indexes(plane):
    """Nobody has to run `agents reap`: hashes expire, any agent process prunes the indexes."""
    import time as _time

    from agentconsole.control.registry import AgentRecord

    plane.settings.registry.reap_after_seconds = 30
    await plane.agents.register(AgentRecord(id="old", tenant="t"))
    await plane.agents.register(AgentRecord(id="new", tenant="t"))
    ttl = await plane.redis.ttl(plane.keys.agent("old"))
    assert 0 < ttl <= 30
    await plane.agents.write_many([AgentRecord(id="old", tenant="t")], at=_time.time() - 60)
    assert await plane.agents.prune() == 1
    ids = [a.id for a in await plane.agents.list()]
    assert ids == ["new"]
    part = plane.keys.partition_for("old")
    for index in (
        part.by_heartbeat,
        part.by_tokens,
        part.by_cost,
        part.by_tenant("t"),
        part.by_status("running"),
        part.applied(0),
    ):
        assert await plane.redis.zscore(index, "old") is None, index
