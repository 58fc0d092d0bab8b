"""A kill, drain or pause whose stored document does not parse is still lifted by its row:
through the atomic apply path, compared by value, audited once as unreadable."""

import pytest

from agentconsole.control import codec
from agentconsole.control import operations as ops
from agentconsole.control.errors import Conflict, InvalidValue

# not JSON, not an object, an object without a version, not UTF-8, a control character
BAD = [b"{not json", b"[1, 2]", b'"tenant"', b'{"target": "x"}', b"\xff\xfe", b"bad\x1b[2Jvalue"]


@pytest.mark.parametrize("raw", BAD)
async def test_an_unreadable_kill_is_listed_named_and_lifted_by_its_row(plane, raw):
    await plane.redis.hset(plane.keys.kills, "tenant:acme", raw)
    kills, problems = await plane.kills.list()
    if raw != b'{"target": "x"}':  # an object without a version reads as a kill
        assert codec.UNREADABLE in kills["tenant:acme"]
        assert plane.keys.kills in problems[0] and "'tenant:acme'" in problems[0]
        assert "agentconsole do kill lift tenant acme" in problems[0]
    version = int(await plane.redis.get(plane.keys.version) or 0)

    call = ops.parse_line("kill lift tenant acme")
    call.reason = "corrupt entry"
    outcome = await call.op.run(plane, call)
    assert outcome.text == "kill of tenant acme lifted: new agents of that scope may run"
    assert await plane.redis.hget(plane.keys.kills, "tenant:acme") is None
    assert int(await plane.redis.get(plane.keys.version)) == version + 1

    [entry] = await plane.audit.tail(10)
    assert (entry.action, entry.target, entry.reason) == (
        "kill.lift",
        "tenant:acme",
        "corrupt entry",
    )
    assert entry.before is not None and entry.before["unreadable"] == codec.problem(raw)
    stored = entry.before["stored"]
    assert len(stored) <= 120 and "\x1b" not in stored  # the one sanitiser, cut


async def test_an_unreadable_drain_and_pause_lift_through_undrain_and_resume(plane):
    await plane.redis.hset(plane.keys.holds, "drain:all", b"garbage" * 100)
    await plane.redis.hset(plane.keys.holds, "pause:agent:a1", b"[]")
    holds, problems = await plane.holds.list()
    assert set(holds) == {"drain:all", "pause:agent:a1"} and len(problems) == 2
    assert any("agentconsole do pause lift agent a1" in p for p in problems)
    for line in ("undrain all", "resume agent a1"):
        call = ops.parse_line(line)
        call.reason = "corrupt"
        await call.op.run(plane, call)
    assert await plane.redis.hlen(plane.keys.holds) == 0
    entries = await plane.audit.tail(10)
    assert [e.action for e in entries] == ["drain.lift", "pause.lift"]
    assert entries[0].before["unreadable"] == "not valid JSON"
    assert len(entries[0].before["stored"]) <= 120  # 700 bytes stored, never copied whole


async def test_the_script_deletes_only_the_value_the_caller_read(plane):
    """The compare-and-set of an unreadable value is on the value itself: when it changed
    after it was read (rewritten, or repaired by hand), the lift is refused, not blind."""
    await plane.redis.hset(plane.keys.kills, "all", b"{broken")
    with pytest.raises(Conflict):
        await plane.apply(
            hash_key=plane.keys.kills,
            field="all",
            entity="kill",
            action="kill.lift",
            new_doc=None,
            expected_version=0,
            unreadable=b"{something else",
        )
    with pytest.raises(InvalidValue, match="only be deleted"):
        await plane.apply(
            hash_key=plane.keys.kills,
            field="all",
            entity="kill",
            action="kill.all",
            new_doc={"target": "all", "scope": "all"},
            expected_version=0,
            unreadable=b"{broken",
        )
    assert await plane.redis.hget(plane.keys.kills, "all") == b"{broken"
    assert await plane.audit.tail(10) == []


async def test_a_readable_kill_still_lifts_by_its_version(plane):
    await plane.kills.kill(tenant="acme", reason="x")
    await plane.kills.lift("tenant:acme")
    entries = await plane.audit.tail(10)
    assert [e.action for e in entries] == ["kill.tenant", "kill.lift"]
    assert entries[1].before["target"] == "tenant:acme"  # the document itself, as before


async def test_an_unreadable_breaker_mode_is_reset_by_its_row(plane):
    """The agents skip a mode that does not parse (automatic); `breaker reset` deletes it,
    so a trip works again afterwards, and the listing says how."""
    await plane.redis.hset(plane.keys.breakers, "openai", b"{not json")
    _, problems = await plane.breakers.list()
    assert problems[0].endswith("reset it: agentconsole do breaker reset openai")
    call = ops.parse_line("breaker reset openai")
    call.reason = "corrupt entry"
    await call.op.run(plane, call)
    assert await plane.redis.hget(plane.keys.breakers, "openai") is None
    assert (await plane.breakers.trip("openai", for_seconds=60)).mode == "forced_open"
    entries = await plane.audit.tail(10)
    assert [e.action for e in entries] == ["breaker.reset", "breaker.trip"]
    assert entries[0].before["unreadable"] == "not valid JSON"
