"""Circuit breakers through the public API: operator modes, expiry, observed state, roles."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from agentconsole.control import InvalidValue, PermissionDenied
from agentconsole.control.breakers import BreakerMode, BreakerObserved, BreakerView


async def test_trip_force_close_reset_round_trip(plane):
    mode = await plane.breakers.trip("openai", for_seconds=900, reason="outage")
    assert mode.mode == "forced_open" and mode.version == 1 and mode.changed_by == "alice"
    assert mode.until == pytest.approx(time.time() + 900, abs=5)
    mode = await plane.breakers.force_close("openai", reason="false alarm")
    assert (mode.mode, mode.until, mode.version) == ("forced_closed", None, 2)
    mode = await plane.breakers.reset("openai")
    assert (mode.mode, mode.version) == ("auto", 3)
    assert (await plane.breakers.get("openai")).mode == "auto"
    assert await plane.breakers.get("never-touched") is None
    entries = await plane.audit.tail(10)
    assert [(e.action, e.target) for e in entries] == [
        ("breaker.trip", "openai"),
        ("breaker.force_close", "openai"),
        ("breaker.reset", "openai"),
    ]
    assert entries[0].reason == "outage" and entries[1].before["mode"] == "forced_open"


def test_timed_override_reverts_to_auto_by_itself():
    mode = BreakerMode("openai", mode="forced_open", until=1000.0)
    assert mode.effective(now=999.0) == "forced_open"
    assert mode.effective(now=1000.0) == "auto"
    assert BreakerMode("x", mode="forced_open").effective(now=1e12) == "forced_open"
    view = BreakerView("x", BreakerMode("x", "forced_closed"), BreakerObserved("x", state="open"))
    assert view.effective_state == "closed"
    view = BreakerView("x", BreakerMode("x"), BreakerObserved("x", state="half_open"))
    assert view.effective_state == "half_open"


async def test_list_merges_operator_mode_and_observed_state(plane):
    observed = {"state": "open", "failure_rate": 0.6, "calls": 20, "last_transition": 1.0}
    await plane.redis.hset(plane.keys.breaker_state, "vector-db", json.dumps(observed))
    await plane.redis.hset(plane.keys.breaker_state, "weird", json.dumps({"state": "melted"}))
    await plane.breakers.trip("openai")
    views, problems = await plane.breakers.list()
    by_dep = {v.dependency: v for v in views}
    assert sorted(by_dep) == ["openai", "vector-db", "weird"] and problems == []
    assert (
        by_dep["openai"].effective_state == "open" and by_dep["openai"].observed.state == "closed"
    )
    assert by_dep["vector-db"].mode.mode == "auto" and by_dep["vector-db"].effective_state == "open"
    assert by_dep["vector-db"].observed.failure_rate == 0.6
    assert by_dep["weird"].observed.state == "closed"  # unknown states read as closed


async def test_corrupt_values_are_problems_not_crashes(plane):
    await plane.redis.hset(plane.keys.breakers, "bad", b"\xff\x00")
    await plane.redis.hset(plane.keys.breaker_state, "worse", "{not json")
    views, problems = await plane.breakers.list()
    assert len(problems) == 2 and any("UTF-8" in p for p in problems)
    assert [v.dependency for v in views] == ["worse"]


async def test_roles_and_bad_input(plane, plane_as):
    with pytest.raises(PermissionDenied):
        await plane_as("v", "viewer").breakers.trip("openai")
    responder = plane_as("r", "responder")
    await responder.breakers.trip("openai", for_seconds=60)
    await responder.breakers.reset("openai")
    with pytest.raises(InvalidValue):
        await plane.breakers.trip("openai", for_seconds=0)
    with pytest.raises(InvalidValue):
        await plane.breakers.trip("bad\nname")
    with pytest.raises(InvalidValue, match="at most"):  # refused before anything is written
        await plane.breakers.trip("openai", for_seconds=99999999999999 * 86400)


async def test_two_operators_at_once_one_wins_one_sees_the_current_value(plane_as):
    from agentconsole.control import Conflict

    bob, carol = plane_as("bob", "responder"), plane_as("carol", "responder")
    for _ in range(3):  # both read "no mode yet" or the same version, only one write lands
        results = await asyncio.gather(
            bob.breakers.trip("openai", reason="bob"),
            carol.breakers.force_close("openai", reason="carol"),
            return_exceptions=True,
        )
        errors = [r for r in results if isinstance(r, Exception)]
        assert all(isinstance(e, Conflict) for e in errors), errors
        for e in errors:
            assert "current value" in str(e) and e.current["version"] >= 1
    modes = await bob.breakers.get("openai")
    assert modes.version >= 3
