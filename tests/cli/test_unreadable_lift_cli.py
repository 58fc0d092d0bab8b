"""A kill, drain or pause that does not parse: `status` names its key and how to lift it,
and the CLI's own lift rows lift it (no `redis-cli HDEL`)."""

from __future__ import annotations


async def test_status_names_an_unreadable_kill_and_the_cli_lifts_it(plane, acli):
    await plane.redis.hset(plane.keys.kills, "tenant:acme", "{not json")
    await plane.redis.hset(plane.keys.holds, "pause:all", "[]")
    r = await acli("--json", "status")
    assert r.code == 1, r.err  # a problem: the exit code says so, the report is whole
    problems = r.json()["problems"]
    assert (
        f"{plane.keys.kills} field 'tenant:acme': not valid JSON; agents obey it; "
        "lift it: agentconsole do kill lift tenant acme"
    ) in problems
    assert (
        f"{plane.keys.holds} field 'pause:all': not a JSON object; agents obey it; "
        "lift it: agentconsole do pause lift all"
    ) in problems
    assert r.json()["kills"]["unreadable"] == ["tenant:acme"]  # still in force, counted
    human = (await acli("status")).out
    assert "kills:         1 in force: tenant:acme (unreadable)" in human
    assert "1 in force: pause:all (unreadable)" in human

    r = await acli("agents", "lift", "--tenant", "acme", "--reason", "corrupt")
    assert r.code == 0, r.err
    assert r.out == "kill of tenant acme lifted: new agents of that scope may run\n"
    r = await acli("do", "--reason", "corrupt", "pause", "lift", "all")
    assert r.code == 0, r.err
    assert await plane.redis.hlen(plane.keys.kills) == 0
    assert await plane.redis.hlen(plane.keys.holds) == 0
    entries = await plane.audit.tail(10)
    assert [(e.action, e.before["unreadable"]) for e in entries] == [
        ("kill.lift", "not valid JSON"),
        ("pause.lift", "not a JSON object"),
    ]
    r = await acli("--json", "status")
    assert r.code == 0 and r.json()["problems"] == []
    r = await acli("do", "--reason", "again", "kill", "lift", "tenant", "acme")
    assert r.code != 0 and "no kill in force" in r.err  # one clear line, nothing written
    assert len(await plane.audit.tail(10)) == 2
