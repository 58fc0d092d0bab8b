import asyncio

import pytest

from agentconsole.control import NotFound, PermissionDenied
from agentconsole.control.events import subscribe
from agentconsole.control.registry import AgentRecord


async def test_kill_is_durable_published_and_idempotent(plane):
    await plane.agents.register(AgentRecord(id="a1", tenant="acme", task="t"))
    events = subscribe(plane.redis, plane.keys.events)
    pending = asyncio.ensure_future(events.__anext__())
    await asyncio.sleep(0.1)
    first = await plane.kills.kill(agent="a1", reason="runaway")
    assert first.created and first.agents == ["a1"]
    event = await asyncio.wait_for(pending, 2)
    assert event.entity == "kill" and event.name == "agent:a1"
    second = await plane.kills.kill(agent="a1", reason="again")
    assert not second.created and second.kill["reason"] == "runaway"
    kills, _ = await plane.kills.list()
    assert set(kills) == {"agent:a1"}
    assert (await plane.agents.get("a1")).status == "killing"
    await events.aclose()


async def test_kill_tenant_and_all_and_clear(plane):
    for i, tenant in enumerate(["acme", "acme", "other"]):
        await plane.agents.register(AgentRecord(id=f"a{i}", tenant=tenant))
    out = await plane.kills.kill(tenant="acme")
    assert sorted(out.agents) == ["a0", "a1"]
    out = await plane.kills.kill(everything=True, reason="stop")
    assert sorted(out.agents) == ["a0", "a1", "a2"]
    await plane.kills.lift("all")
    await plane.kills.lift("tenant:acme")
    assert (await plane.kills.list())[0] == {}
    actions = [e.action for e in await plane.audit.tail(10)]
    assert actions == ["kill.tenant", "kill.all", "kill.lift", "kill.lift"]


async def test_kill_unknown_agent_and_viewer(plane, plane_as):
    with pytest.raises(NotFound):
        await plane.kills.kill(agent="ghost")
    with pytest.raises(PermissionDenied):
        await plane_as("v", "viewer").kills.kill(everything=True)
