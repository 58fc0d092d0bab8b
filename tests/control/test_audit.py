"""The audit stream: written in the same atomic step as each change, readable as a timeline."""

from __future__ import annotations

import time

import pytest

from agentconsole.control import Conflict, PermissionDenied
from agentconsole.control.plane import AUDIT_MAXLEN


async def test_every_change_has_exactly_one_entry(plane, plane_as):
    await plane.flags.create("f", reason="new")
    await plane.flags.enable("f", reason="go")
    await plane.breakers.trip("openai", reason="outage")
    await plane.budgets.set("request_tokens", 3000, reason="tighter")
    with pytest.raises(Conflict):  # a refused change leaves no trace and no version bump
        await plane.flags.disable("f", expected_version=1)
    with pytest.raises(PermissionDenied):
        await plane_as("vic", "viewer").flags.disable("f")
    entries = await plane.audit.tail(50)
    assert [e.action for e in entries] == [
        "flag.create",
        "flag.enable",
        "breaker.trip",
        "budget.set",
    ]
    assert [e.cp_version for e in entries] == [1, 2, 3, 4] and await plane.version() == 4
    create, enable, trip, budget = entries
    assert create.before is None and create.after["name"] == "f" and create.after["version"] == 1
    assert enable.before["enabled"] is False and enable.after["enabled"] is True
    assert (enable.actor, enable.role, enable.reason, enable.entity) == (
        "alice",
        "admin",
        "go",
        "flag",
    )
    assert trip.target == "openai" and budget.after["request_tokens"] == 3000
    assert all(e.ts == pytest.approx(time.time(), abs=30) for e in entries)
    assert entries[1].to_dict()["action"] == "flag.enable"


async def test_after_and_between(plane):
    await plane.flags.create("a")
    first = (await plane.audit.tail(1))[0]
    await plane.flags.create("b")
    await plane.flags.create("c")
    newer = await plane.audit.after(first.id)
    assert [e.target for e in newer] == ["b", "c"]
    assert await plane.audit.after(newer[-1].id) == []
    window = await plane.audit.between(first.ts - 1)
    assert [e.target for e in window] == ["a", "b", "c"]
    assert await plane.audit.between(first.ts - 100, first.ts - 50) == []


async def test_tail_is_oldest_first_and_capped(plane):
    for i in range(5):
        await plane.flags.create(f"f{i}")
    assert [e.target for e in await plane.audit.tail(3)] == ["f2", "f3", "f4"]
    assert AUDIT_MAXLEN >= 10_000  # the stream is length-capped (XADD MAXLEN ~)


async def test_unreadable_entry_fields_are_shown_not_fatal(plane):
    await plane.redis.xadd(
        plane.keys.audit, {"ts": "x", "actor": b"\xff", "before": "{bad", "after": "[1]"}
    )
    (entry,) = await plane.audit.tail(1)
    assert (
        entry.ts == 0 and entry.before == {"unreadable": "{bad"} and entry.after == {"value": [1]}
    )
