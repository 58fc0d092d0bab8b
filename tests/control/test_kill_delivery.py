"""A kill reaches agents twice over: at once by pub/sub, and durably for those who missed it."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from agentconsole.control.events import ChangeEvent, subscribe
from agentconsole.control.kills import AckReport, matches
from agentconsole.control.registry import AgentRecord
from tests.fixtures.redis import checked_plane, settings_for


async def _first_event(plane, action):
    events = subscribe(plane.redis, plane.keys.events)
    pending = asyncio.ensure_future(events.__anext__())
    while (await plane.redis.pubsub_numsub(plane.keys.events))[0][1] < 1:
        await asyncio.sleep(0.01)
    await action()
    try:
        return await asyncio.wait_for(pending, 2)
    finally:
        await events.aclose()


async def test_pubsub_event_carries_entity_name_and_versions(plane):
    await plane.agents.register(AgentRecord(id="a1", tenant="acme"))
    await plane.flags.create("f")
    event = await _first_event(plane, lambda: plane.kills.kill(tenant="acme", reason="abuse"))
    assert (event.entity, event.name, event.action, event.version) == (
        "kill",
        "tenant:acme",
        "kill.tenant",
        1,
    )
    assert event.cp_version == 2 and event.actor == "alice" and event.ts > 0


async def test_durable_record_reaches_an_agent_that_missed_the_message(plane):
    await plane.kills.kill(
        everything=True,
        reason="global stop",
    )
    # an agent starting now never saw the event; its first snapshot read finds the kill
    late = AgentRecord(id="late", tenant="t9")
    await plane.agents.register(late)
    kills, problems = await plane.kills.list()
    hits = [doc for target, doc in kills.items() if matches(target, late.id, late.tenant)]
    assert problems == [] and len(hits) == 1
    assert hits[0]["reason"] == "global stop" and hits[0]["requester"] == "alice"
    assert (await plane.agents.get("late")).status == "killing"
    await plane.agents.acknowledge_kill(late, hits[0])
    rec = await plane.agents.get("late")
    assert rec.status == "killed" and rec.kill_id == hits[0]["id"] and rec.kill_ack_at > 0


async def test_wait_for_acks_reports_who_stopped_and_who_did_not(plane):
    records = [AgentRecord(id=f"a{i}", tenant="acme") for i in range(3)]
    for rec in records:
        await plane.agents.register(rec)
    outcome = await plane.kills.kill(tenant="acme")
    await plane.agents.acknowledge_kill(records[0], outcome.kill)
    await plane.agents.finish(records[1], "finished")  # stopped on its own: not waited for
    report = await plane.kills.wait_for_acks(outcome.agents, outcome.kill["at"], timeout=0.2)
    assert list(report.acknowledged) == ["a0"] and report.missing == ["a2"]
    assert report.summary().startswith("killed 2 agents, 1 acknowledged in Redis within ")
    assert report.ended == ["a1"]
    assert report.summary().endswith(
        "; not acknowledged: a2; 1 more ended on its own (finished, failed or left the registry)"
    )


async def test_an_acknowledgement_landing_late_with_an_earlier_time_is_counted(plane):
    """Another process (or one back from an outage) may land its acknowledgement after a
    newer one was read: the wait counts it all the same."""
    records = [AgentRecord(id=f"same-part-{i}", tenant="acme") for i in range(40)]
    await plane.agents.write_many(records)
    outcome = await plane.kills.kill(tenant="acme")
    part = plane.keys.partition_of
    first, late = next(
        (a, b) for a in records for b in records if a is not b and part(a.id) == part(b.id)
    )
    for rec, at in ((first, time.time()), (late, time.time() - 5)):
        rec.status, rec.kill_id, rec.kill_ack_at = "killed", outcome.kill["id"], at
    waiting = asyncio.create_task(
        plane.kills.wait_for_acks([first.id, late.id], time.time() - 60, timeout=30)
    )
    await plane.agents.acknowledge_many([first])
    await asyncio.sleep(0.2)  # the wait has read the first one by now
    await plane.agents.acknowledge_many([late])
    report = await waiting
    assert sorted(report.acknowledged) == sorted([first.id, late.id]) and not report.missing


async def test_new_acknowledgements_reports_each_once_whatever_order_they_land_in(plane):
    """The cursor reads each partition from the rank after the entries it read: landings
    with earlier times shift those ranks, and every id still comes back exactly once."""
    import random

    from agentconsole.control.registry import AckCursor

    records = [AgentRecord(id=f"order-{i}", tenant="acme") for i in range(60)]
    await plane.agents.write_many(records)
    outcome = await plane.kills.kill(tenant="acme")
    now = time.time()
    shuffled = random.Random(7).sample(records, len(records))
    cursor, reported = AckCursor(outcome.kill["id"]), []
    for i, rec in enumerate(shuffled):  # times out of landing order, a poll after each few
        rec.status, rec.kill_id = "killed", outcome.kill["id"]
        rec.kill_ack_at = now - random.Random(i).uniform(0, 10)
        await plane.agents.acknowledge_many([rec])
        if i % 3 == 0:
            reported += await plane.agents.new_acknowledgements(cursor)
    reported += await plane.agents.new_acknowledgements(cursor)
    assert sorted(reported) == sorted(r.id for r in records)
    assert await plane.agents.new_acknowledgements(cursor) == []


async def test_the_reported_time_is_when_the_acknowledgement_landed_not_when_the_run_stopped(
    plane,
):
    """A run stamps ``kill_ack_at`` when it stops; a busy process (or an outage) may send
    that acknowledgement much later. The outcome counts to its landing in Redis."""
    rec = AgentRecord(id="slow", tenant="acme")
    await plane.agents.register(rec)
    outcome = await plane.kills.kill(tenant="acme")
    rec.status, rec.kill_id, rec.kill_ack_at = "killed", outcome.kill["id"], time.time()
    waiting = asyncio.create_task(
        plane.kills.wait_for_acks([rec.id], outcome.kill["at"], timeout=30)
    )
    await asyncio.sleep(0.3)  # stopped, acknowledgement not sent yet
    await plane.agents.acknowledge_many([rec])
    report = await waiting
    assert report.acknowledged[rec.id] >= 0.3 and not report.missing
    assert f"within {report.acknowledged[rec.id] * 1000:.0f} ms" in report.summary()


async def test_a_kill_already_in_force_does_not_time_its_old_acknowledgements(plane):
    """Acknowledgements of the kill in force may be hours old: no 'within 3 ms' for them."""
    from agentconsole.control.operations import kill_and_wait

    rec = AgentRecord(id="k1", tenant="acme")
    await plane.agents.register(rec)
    first = await kill_and_wait(plane, [{"tenant": "acme"}], reason="abuse", wait=0)
    await plane.agents.acknowledge_kill(rec, first.data["kill"])
    again = await kill_and_wait(plane, [{"tenant": "acme"}], reason="again", wait=30)
    assert "already in force" in again.text and not again.warning
    assert again.text.endswith("; killed 1 agent, 1 acknowledged"), again.text


def test_ack_report_summary_wording():
    one = AckReport({"a": 0.04}, []).summary()
    assert one == "killed 1 agent, 1 acknowledged in Redis within 40 ms of the kill"
    every = AckReport({"a": 0.01, "b": 0.041}, []).summary()
    assert every == "killed 2 agents, all 2 acknowledged in Redis within 41 ms of the kill"
    some = AckReport({"a": 0.04}, ["b"]).summary()
    assert some == "killed 2 agents, 1 acknowledged in Redis within 40 ms of the kill; " + (
        "not acknowledged: b"
    )
    many = AckReport({}, [f"x{i}" for i in range(7)]).summary()
    assert many == "killed 7 agents, 0 acknowledged; not acknowledged: x0, x1, x2, x3, x4 ..."


def test_change_event_parse_is_total():
    good = json.dumps(
        {"entity": "flag", "name": "f", "action": "flag.enable", "version": 2, "cp_version": 9}
    )
    assert ChangeEvent.parse(good).cp_version == 9
    for junk in (b"\xff", "{}", "[1]", "not json", json.dumps({"entity": "x", "version": "v"})):
        assert ChangeEvent.parse(junk) is None


async def test_thousands_acknowledged_in_one_partition_in_one_call(redis_server, redis_prefix):
    """kill_ack.lua writes its indexes in chunks (Lua's stack bounds one call's arguments)."""
    settings = settings_for(redis_server.url, f"{redis_prefix}one")
    settings.registry.partitions = 1
    async with checked_plane(settings) as plane:
        assert plane.keys.partitions == 1
        records = [AgentRecord(id=f"p{i:04d}", tenant="acme") for i in range(2100)]
        await plane.agents.write_many(records)
        outcome = await plane.kills.kill(tenant="acme")
        for rec in records:
            rec.status, rec.kill_id, rec.kill_ack_at = "killed", outcome.kill["id"], time.time()
        await plane.agents.acknowledge_many(records)
        assert len(await plane.agents.acknowledged(outcome.kill["id"])) == 2100
        counts = await plane.agents.status_counts()
        assert (counts["killed"], counts["running"]) == (2100, 0)


async def test_an_id_that_is_not_a_name_is_refused_before_anything_is_written(plane):
    """kill_ack.lua takes its agents newline-separated; a name holds no newline (text.name),
    so an id that does is refused before any call is sent, not split into two."""
    rec = AgentRecord(id="two\nlines", tenant="acme")
    rec.status, rec.kill_id, rec.kill_ack_at = "killed", "k1", time.time()
    with pytest.raises(ValueError, match="newline"):
        await plane.agents.acknowledge_many([rec])
    part = plane.keys.partition_for(rec.id)
    assert await plane.redis.zcard(part.acks("k1")) == 0
