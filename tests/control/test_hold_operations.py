"""The drain and pause rows of the operations table: words, previews, outcomes, audit."""

import asyncio
import time

import pytest

from agentconsole.control import operations as ops
from agentconsole.control.errors import InvalidValue, NotFound
from agentconsole.control.registry import AgentRecord


@pytest.mark.parametrize(
    ("line", "name", "args"),
    [
        ("drain sim-1", "drain.agent", {"agent": ["sim-1"]}),
        ("drain tenant acme", "drain.tenant", {"tenant": "acme"}),
        ('drain tenant "Acme Corp"', "drain.tenant", {"tenant": "Acme Corp"}),
        ("drain all", "drain.all", {}),
        ("undrain tenant acme", "drain.lift", {"scope": "tenant", "name": "acme"}),
        ("drain lift all", "drain.lift", {"scope": "all"}),
        ("pause agent a b", "pause.agent", {"agent": ["a", "b"]}),
        ("pause tenant acme", "pause.tenant", {"tenant": "acme"}),
        ("pause all", "pause.all", {}),
        ("resume tenant acme", "pause.lift", {"scope": "tenant", "name": "acme"}),
        ("resume agent sim-1", "pause.lift", {"scope": "agent", "name": "sim-1"}),
    ],
)
def test_command_lines(line, name, args):
    call = ops.parse_line(line)
    assert call.op.name == name and args.items() <= call.args.items()
    again = ops.parse_line(call.line)
    assert (again.op, again.args) == (call.op, call.args)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("drain tenant", "needs TENANT"),
        ("resume tenant", "pause lift tenant needs a NAME"),
        ("undrain all x", "drain lift all takes no name"),
        ("pause tenant a\x00b", "control or invisible"),
    ],
)
def test_bad_lines_are_refused_before_anything_runs(line, message):
    with pytest.raises(InvalidValue, match=message):
        ops.parse_line(line)


async def _fleet(plane, n: int, tenant: str = "acme") -> list[str]:
    ids = [f"{tenant}-{i}" for i in range(n)]
    for agent_id in ids:
        await plane.agents.register(AgentRecord(id=agent_id, tenant=tenant, status="running"))
    return ids


async def test_drain_tenant_previews_and_says_what_happens(plane):
    await _fleet(plane, 3)
    await _fleet(plane, 2, "globex")
    call = ops.get("drain.tenant").call({"tenant": "acme"}, reason="noisy")
    preview = await call.op.preview(plane, call)
    assert preview.confirm and preview.count == 3
    assert preview.title == "Drain tenant acme: 3 running runs will finish, new runs refused"
    outcome = await call.op.run(plane, call)
    assert outcome.text == (
        "draining tenant acme: 3 running runs will finish, new runs refused "
        "(undrain tenant acme lifts it)"
    )
    assert not outcome.warning and len(outcome.data["agents"]) == 3
    again = await call.op.run(plane, call)
    assert again.text.startswith("a drain of tenant acme was already in force since")
    assert "(by alice: noisy)" in again.text
    lift = ops.parse_line("undrain tenant acme")
    lift.reason = "calm"
    assert (await lift.op.run(plane, lift)).text == (
        "drain of tenant acme lifted: new runs may start"
    )
    actions = [(e.action, e.reason) for e in await plane.audit.tail(10)]
    assert actions == [("drain.tenant", "noisy"), ("drain.lift", "calm")]
    with pytest.raises(NotFound, match="no drain in force for tenant acme"):
        await lift.op.run(plane, lift)


async def test_pause_waits_for_the_agents_to_report_paused(plane):
    ids = await _fleet(plane, 2)

    async def agents_obey():  # what each agent's runtime writes when it applies the pause
        while not (await plane.holds.list())[0]:
            await asyncio.sleep(0.01)
        for agent_id in ids[:1]:
            paused = AgentRecord(
                id=agent_id, tenant="acme", status="paused", heartbeat_at=time.time()
            )
            await plane.agents.write_many([paused])

    obeying = asyncio.create_task(agents_obey())
    call = ops.get("pause.tenant").call({"tenant": "acme"}, reason="look", wait=1.0)
    outcome = await call.op.run(plane, call)
    await obeying
    assert outcome.text.startswith(
        "pausing tenant acme: 2 running runs hold at their next step until resumed, "
        "new runs hold too; 1 reported paused within"
    )
    assert outcome.text.endswith(f"; not yet: {ids[1]} (resume tenant acme lifts it)")
    assert outcome.warning and outcome.data["not_reported"] == [ids[1]]


async def test_each_row_is_audited_exactly_once(plane):
    await _fleet(plane, 1)
    lines = [
        ("drain acme-0", "drain.agent"),
        ("drain tenant acme", "drain.tenant"),
        ("drain all", "drain.all"),
        ("pause acme-0", "pause.agent"),
        ("pause tenant acme", "pause.tenant"),
        ("pause all", "pause.all"),
        ("undrain all", "drain.lift"),
        ("resume agent acme-0", "pause.lift"),
    ]
    for line, name in lines:
        call = ops.parse_line(line)
        call.reason, call.wait = "walk", 0
        before = await plane.audit.last_id()
        outcome = await call.op.run(plane, call)
        entries = await plane.audit.after(before)
        assert [e.action for e in entries] == [name], (line, outcome.text)
        assert entries[0].reason == "walk" and outcome.text


async def test_an_unknown_agent_among_several_is_named_and_the_others_held(plane):
    await _fleet(plane, 1)
    call = ops.parse_line("drain agent acme-0 ghost")
    call.reason = "two"
    outcome = await call.op.run(plane, call)
    assert outcome.warning and outcome.text.startswith("draining agent acme-0: 1 running run")
    assert outcome.text.endswith("; 1 failed: no agent with id 'ghost' in the registry")
    assert set((await plane.holds.list())[0]) == {"drain:agent:acme-0"}
    with pytest.raises(NotFound):  # alone, an unknown agent is refused outright
        await call.op.run(plane, ops.parse_line("pause ghost"))
