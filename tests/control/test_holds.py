"""Drains and pauses as control state: durable, audited once, published with the document."""

import asyncio

import pytest

from agentconsole.control import InvalidValue, NotFound, PermissionDenied
from agentconsole.control.errors import ControlPlaneReset
from agentconsole.control.events import subscribe
from agentconsole.control.registry import AgentRecord


async def _listening(plane):
    events = subscribe(plane.redis, plane.keys.events)
    pending = asyncio.ensure_future(events.__anext__())
    while (await plane.redis.pubsub_numsub(plane.keys.events))[0][1] < 1:
        await asyncio.sleep(0.01)
    return events, pending


async def test_drain_is_durable_published_audited_once_and_idempotent(plane):
    for i, tenant in enumerate(["acme", "acme", "globex"]):
        await plane.agents.register(AgentRecord(id=f"a{i}", tenant=tenant))
    events, pending = await _listening(plane)
    first = await plane.holds.hold("drain", tenant="acme", reason="noisy")
    assert first.created and sorted(first.agents) == ["a0", "a1"]
    event = await asyncio.wait_for(pending, 30)
    assert (event.entity, event.name, event.action) == ("hold", "drain:tenant:acme", "drain.tenant")
    assert event.doc["kind"] == "drain" and event.doc["target"] == "tenant:acme"
    await events.aclose()

    again = await plane.holds.hold("drain", tenant="acme", reason="twice")
    assert not again.created and again.hold["reason"] == "noisy"
    holds, problems = await plane.holds.list()
    assert set(holds) == {"drain:tenant:acme"} and not problems
    entries = await plane.audit.tail(10)
    assert [e.action for e in entries] == ["drain.tenant"]  # the second asked nothing new
    assert entries[0].target == "drain:tenant:acme" and entries[0].reason == "noisy"


async def test_pause_and_drain_of_one_target_are_separate_and_lift_separately(plane):
    await plane.agents.register(AgentRecord(id="a1", tenant="acme"))
    await plane.holds.hold("pause", agent="a1", reason="look")
    await plane.holds.hold("drain", agent="a1")
    await plane.holds.hold("pause", everything=True)
    assert set((await plane.holds.list())[0]) == {"pause:agent:a1", "drain:agent:a1", "pause:all"}
    await plane.holds.lift("pause", "agent:a1", reason="seen")
    await plane.holds.lift("pause", "all")
    assert set((await plane.holds.list())[0]) == {"drain:agent:a1"}
    with pytest.raises(NotFound, match="no pause in force for agent a1"):
        await plane.holds.lift("pause", "agent:a1")
    actions = [e.action for e in await plane.audit.tail(10)]
    assert actions == ["pause.agent", "drain.agent", "pause.all", "pause.lift", "pause.lift"]


async def test_unknown_agent_bad_names_and_roles(plane, plane_as):
    with pytest.raises(NotFound):
        await plane.holds.hold("drain", agent="ghost")
    with pytest.raises(InvalidValue):
        await plane.holds.hold("drain", tenant="bad\x00name")
    with pytest.raises(InvalidValue):
        await plane.holds.hold("freeze", everything=True)
    viewer = plane_as("v", "viewer")
    with pytest.raises(PermissionDenied):
        await viewer.holds.hold("pause", everything=True)
    await plane.holds.hold("pause", everything=True)
    with pytest.raises(PermissionDenied):
        await viewer.holds.lift("pause", "all")


async def test_the_script_refuses_a_hold_that_does_not_name_its_field(plane):
    with pytest.raises(InvalidValue, match="names its own kind and target"):
        await plane.apply(
            hash_key=plane.keys.holds,
            field="drain:tenant:acme",
            entity="hold",
            action="drain.tenant",
            new_doc={"kind": "drain", "target": "tenant:globex", "scope": "tenant"},
            expected_version=None,
        )
    assert await plane.redis.hlen(plane.keys.holds) == 0


async def test_during_a_reset_holds_go_through_and_lifts_wait(plane):
    """Like kills: a drain or a pause only makes the fleet safer; lifting waits for a decision."""
    await plane.holds.hold("pause", tenant="acme")
    await plane.redis.delete(plane.keys.epoch)
    await plane.redis.hset(plane.keys.reset_holders, "agent:h:1", "{}")
    out = await plane.holds.hold("drain", everything=True, reason="during the reset")
    assert out.created
    with pytest.raises(ControlPlaneReset):
        await plane.holds.lift("pause", "tenant:acme")
    assert set((await plane.holds.list())[0]) == {"pause:tenant:acme", "drain:all"}
