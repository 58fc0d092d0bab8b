import asyncio

import pytest

from agentconsole.control import AlreadyExists, Conflict, InvalidValue, NotFound, PermissionDenied


async def test_create_enable_rollout_roundtrip(plane):
    flag = await plane.flags.create("new-planner", type="release", description="d", reason="r")
    assert flag.version == 1 and not flag.enabled and flag.owner == "alice"
    flag = await plane.flags.enable("new-planner", reason="go")
    assert flag.enabled and flag.version == 2 and flag.changed_by == "alice"
    flag = await plane.flags.set_rollout("new-planner", "12.5")
    assert flag.rollout_bp == 1250 and flag.rollout == "12.5%"
    flags, problems = await plane.flags.list()
    assert [f.name for f in flags] == ["new-planner"] and problems == []


async def test_create_twice_is_refused(plane):
    await plane.flags.create("a")
    with pytest.raises(AlreadyExists):
        await plane.flags.create("a")


async def test_concurrent_writers_one_wins_one_conflicts(plane, plane_as):
    await plane.flags.create("f")
    bob = plane_as("bob", "responder")
    carol = plane_as("carol", "responder")
    results = await asyncio.gather(
        bob.flags.enable("f", expected_version=1),
        carol.flags.set_rollout("f", 50, expected_version=1),
        return_exceptions=True,
    )
    conflicts = [r for r in results if isinstance(r, Conflict)]
    assert len(conflicts) == 1
    assert conflicts[0].current is not None and conflicts[0].current["version"] == 2
    assert "current value" in str(conflicts[0])
    entries = await plane.audit.tail(10)
    assert [e.action for e in entries] == ["flag.create", entries[-1].action]


@pytest.mark.parametrize("bad", ["101", "-1", "abc", "0.001", "nan"])
async def test_bad_rollout_is_a_clear_error(plane, bad):
    await plane.flags.create("f")
    with pytest.raises(InvalidValue):
        await plane.flags.set_rollout("f", bad)


async def test_unknown_flag(plane):
    with pytest.raises(NotFound):
        await plane.flags.enable("nope")


async def test_viewer_cannot_change(plane, plane_as):
    await plane.flags.create("f")
    viewer = plane_as("vic", "viewer")
    with pytest.raises(PermissionDenied):
        await viewer.flags.enable("f")
    responder = plane_as("rita", "responder")
    with pytest.raises(PermissionDenied):
        await responder.flags.create("g")


async def test_non_utf8_value_is_reported_not_crashing(plane):
    await plane.flags.create("good")
    await plane.redis.hset(plane.keys.flags, "bad", b"\xff\xfe")
    flags, problems = await plane.flags.list()
    assert [f.name for f in flags] == ["good"]
    assert problems and "UTF-8" in problems[0]


async def test_change_event_published(plane):
    from agentconsole.control.events import subscribe

    events = subscribe(plane.redis, plane.keys.events)
    task = asyncio.ensure_future(events.__anext__())
    await asyncio.sleep(0.1)
    await plane.flags.create("f")
    event = await asyncio.wait_for(task, 2)
    assert (event.entity, event.name, event.version, event.actor) == ("flag", "f", 1, "alice")
    await events.aclose()
