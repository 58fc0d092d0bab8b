"""`agentconsole agents ...`: listing untrusted text safely, top N, kill with acknowledgements."""

from __future__ import annotations

import asyncio
import contextlib
import time

from agentconsole.control.events import subscribe
from agentconsole.control.kills import matches
from agentconsole.control.registry import AgentRecord
from tests.cli.conftest import assert_one_line


async def _register(plane, *records: AgentRecord) -> None:
    for rec in records:
        await plane.agents.register(rec)


@contextlib.asynccontextmanager
async def acknowledging(plane, agent_ids: set[str]):
    """Play the agents in ``agent_ids``: on a kill event that matches one, acknowledge it.

    Agents not in the set stay silent, like a hung process.
    """
    events = subscribe(plane.redis, plane.keys.events)

    async def loop() -> None:
        async for event in events:
            if event.entity != "kill":
                continue
            kills, _ = await plane.kills.list()
            doc = kills.get(event.name)
            if doc is None:
                continue
            for rec in await plane.agents.get_many(sorted(agent_ids)):
                if matches(event.name, rec.id, rec.tenant) and rec.status != "killed":
                    await plane.agents.acknowledge_kill(rec, doc)

    task = asyncio.ensure_future(loop())
    deadline = time.monotonic() + 5
    while (await plane.redis.pubsub_numsub(plane.keys.events))[0][1] < 1:
        assert time.monotonic() < deadline, "subscriber did not start"
        await asyncio.sleep(0.01)
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await events.aclose()


async def test_list_shows_markup_and_escapes_as_inert_text(plane, acli):
    nasty = "[bold red]PWNED[/] \x1b[31mred\x1b[0m \x1b]0;title\x07 \u202eevil"
    await _register(
        plane,
        AgentRecord(id="a1", task=nasty, user="[link=x]u[/link]", tenant="acme", model="m"),
    )
    r = await acli("agents", "list")
    assert r.code == 0
    assert "\x1b" not in r.out and "\x07" not in r.out and "\u202e" not in r.out
    assert "[bold red]PWNED[/]" in r.out and "[link=x]u[/link]" in r.out
    r = await acli("agents", "list", "--json")
    assert "\x1b" not in r.out
    assert r.json()["agents"][0]["task"] == nasty  # JSON keeps the exact value, escaped
    r = await acli("agents", "show", "a1")
    assert r.code == 0 and "\x1b" not in r.out


async def test_top_by_tokens_and_cost_and_filters(plane, acli):
    await _register(
        plane,
        AgentRecord(id="small", tenant="t1", tokens_in=10, cost=0.9),
        AgentRecord(id="big", tenant="t2", tokens_in=5000, tokens_out=100, cost=0.1),
        AgentRecord(id="mid", tenant="t1", tokens_in=300, cost=0.5),
    )
    r = await acli("--json", "agents", "top", "-n", "2")
    assert [a["id"] for a in r.json()["agents"]] == ["big", "mid"]
    r = await acli("--json", "agents", "top", "--by", "cost")
    assert [a["id"] for a in r.json()["agents"]] == ["small", "mid", "big"]
    r = await acli("--json", "agents", "list", "--tenant", "t1")
    assert sorted(a["id"] for a in r.json()["agents"]) == ["mid", "small"]
    r = await acli("agents", "list", "--status", "killed")
    assert r.code == 0 and r.out.strip() == "no agents"
    r = await acli("agents", "top", "-n", "0")
    assert r.code == 2


async def test_kill_one_agent_reports_acknowledgement(plane, acli):
    await _register(plane, AgentRecord(id="a1", tenant="acme"), AgentRecord(id="a2"))
    async with acknowledging(plane, {"a1"}):
        r = await acli("agents", "kill", "a1", "--yes", "--reason", "runaway")
    assert r.code == 0, r.err
    assert r.out.startswith("killed 1 agent, 1 acknowledged in Redis within") and " ms" in r.out
    rec = await plane.agents.get("a1")
    assert rec.status == "killed" and rec.killed_by == "alice" and rec.kill_reason == "runaway"
    assert (await plane.agents.get("a2")).status == "running"


async def test_kill_tenant_names_the_agent_that_did_not_acknowledge(plane, acli):
    await _register(
        plane,
        AgentRecord(id="a1", tenant="acme"),
        AgentRecord(id="a2", tenant="acme"),
        AgentRecord(id="b1", tenant="other"),
    )
    async with acknowledging(plane, {"a1", "b1"}):
        r = await acli("--json", "agents", "kill", "--tenant", "acme", "--yes", "--wait", "0.5")
    data = r.json()
    assert r.code == 0 and data["created"] is True and sorted(data["agents"]) == ["a1", "a2"]
    assert list(data["acknowledged"]) == ["a1"] and data["not_acknowledged"] == ["a2"]
    assert (await plane.agents.get("b1")).status == "running"
    assert (await plane.agents.get("a2")).status == "killing"


async def test_kill_is_idempotent_and_lift_lifts_it(plane, acli):
    await _register(plane, AgentRecord(id="a1", tenant="acme"))
    r = await acli("agents", "kill", "--all", "--yes", "--reason", "incident", "--wait", "0")
    assert r.code == 0 and "sent to 1 agent" in r.out
    r = await acli("agents", "kill", "--all", "--yes", "--reason", "again", "--wait", "0")
    assert r.code == 0 and "already in force" in r.out and "incident" in r.out
    kills, _ = await plane.kills.list()
    assert list(kills) == ["all"] and kills["all"]["reason"] == "incident"
    r = await acli("agents", "lift", "--all", "--reason", "over")
    assert r.code == 0 and "lifted" in r.out
    assert (await plane.kills.list())[0] == {}
    r = await acli("agents", "lift", "--all")
    assert r.code == 1 and "no kill in force" in r.err
    actions = [e.action for e in await plane.audit.tail(10)]
    assert actions == ["kill.all", "kill.lift"]


async def test_kill_needs_confirmation_and_one_target(plane, acli):
    await _register(plane, AgentRecord(id="a1"))
    r = await acli("agents", "kill", "a1")
    assert r.code == 1 and "--yes" in r.err
    assert_one_line(r)
    assert (await plane.kills.list())[0] == {}
    r = await acli("agents", "kill", "--yes")
    assert r.code == 2 and "exactly one kill target" in r.err
    r = await acli("agents", "kill", "a1", "--all", "--yes")
    assert r.code == 2
    r = await acli("agents", "kill", "ghost", "--yes")
    assert r.code == 1 and "no agent with id 'ghost'" in r.err
    r = await acli("agents", "kill", "a1", "--yes", role="viewer")
    assert r.code == 1 and "needs the responder role" in r.err


async def _silence(plane, agent_id: str, seconds: float) -> None:
    """Make an agent's last heartbeat ``seconds`` old, in its hash and in the index."""
    (record,) = await plane.agents.get_many([agent_id])
    await plane.agents.write_many([record], at=time.time() - seconds)


async def test_reap_forgets_silent_agents(plane, acli):
    await _register(plane, AgentRecord(id="old"), AgentRecord(id="new"))
    await _silence(plane, "old", 300)
    r = await acli("agents", "reap", role="viewer")
    assert r.code == 1 and "responder" in r.err
    r = await acli("--json", "agents", "reap")
    assert r.code == 0 and r.json() == {"reaped": 0}  # dead, but not yet past the 600 s
    assert (await plane.agents.get("old")).status == "dead"
    await _silence(plane, "old", 7200)
    r = await acli("--json", "agents", "reap", "--reason", "cleanup")
    assert r.json() == {"reaped": 1}
    entry = (await plane.audit.tail(1))[0]
    assert (entry.action, entry.actor, entry.reason) == ("agent.reap", "alice", "cleanup")
    assert entry.before == {"agents": ["old"], "count": 1}
    assert await plane.agents.get("old") is None and await plane.agents.get("new") is not None


async def test_kill_report_never_prints_an_agent_supplied_escape(plane, acli):
    evil = "a\x1b]0;pwned\x07"
    await plane.agents.register(AgentRecord(id=evil, tenant="acme"))
    await plane.redis.hset(plane.keys.flags, "x\x1b[2J", b"\xff")
    r = await acli("agents", "kill", "--tenant", "acme", "--yes", "--wait", "0.1")
    assert r.code == 0 and "not acknowledged: a\n" in r.out and "\x1b" not in r.out
    r = await acli("flags", "list")
    assert r.code == 0 and "UTF-8" in r.err
    assert "\x1b" not in r.out + r.err and "\x07" not in r.out + r.err


async def test_list_shows_the_runaway_rule_the_console_shows(plane, acli):
    """The rule lives in control/runaway.py, so the CLI flags what the console highlights."""
    await plane.agents.register(AgentRecord(id="hot", tenant="acme", status="running", steps=45))
    await plane.agents.register(AgentRecord(id="calm", tenant="acme", status="running", steps=1))
    r = await acli("--json", "agents", "list")
    attention = {a["id"]: a["attention"] for a in r.json()["agents"]}
    assert attention == {"hot": ["steps"], "calm": []}
    r = await acli("agents", "list")
    assert "running !steps" in r.out


async def test_show_links_the_trace_through_the_url_template(plane, acli, monkeypatch):
    await _register(plane, AgentRecord(id="a1", tenant="globex corp", trace_id="4bf92f35"))
    monkeypatch.setenv(
        "AGENTCONSOLE_TRACES_URL_TEMPLATE", "https://j.example/t/{trace_id}/{tenant}"
    )
    r = await acli("agents", "show", "a1")
    assert "trace:       https://j.example/t/4bf92f35/globex%20corp" in r.out
    r = await acli("--json", "agents", "show", "a1")
    assert r.json()["trace_url"] == "https://j.example/t/4bf92f35/globex%20corp"
