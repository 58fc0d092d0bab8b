"""Budget limits changed by two admins at once: one wins, the other sees the current value."""

from __future__ import annotations

import asyncio

from agentconsole.control import Conflict


async def test_concurrent_first_set_is_a_conflict_not_already_exists(plane_as):
    a, b = plane_as("ann", "admin"), plane_as("ben", "admin")
    # both decided on version 0 (what they saw): exactly one may land
    results = await asyncio.gather(
        a.budgets.set("request_tokens", 1000, expected_version=0),
        b.budgets.set("request_tokens", 2000, expected_version=0),
        return_exceptions=True,
    )
    errors = [r for r in results if isinstance(r, Exception)]
    assert len(errors) == 1 and all(isinstance(e, Conflict) for e in errors), errors
    if errors:
        assert "current value" in str(errors[0]) and errors[0].current["version"] == 1
    limits = await a.budgets.get()
    assert limits.version == 2 - len(errors) and limits.request_tokens in (1000, 2000)
