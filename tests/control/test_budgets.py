import asyncio

import pytest

from agentconsole.control import InvalidValue
from agentconsole.control.budgets import BudgetExceeded


async def test_fifty_concurrent_reservers_never_overshoot(plane):
    await plane.budgets.set("user-daily-tokens", 10_000)
    results = await asyncio.gather(
        *(plane.budgets.reserve("u1", 300, 0.001) for _ in range(50)), return_exceptions=True
    )
    granted = [r for r in results if not isinstance(r, Exception)]
    refused = [r for r in results if isinstance(r, BudgetExceeded)]
    assert len(granted) == 33 and len(refused) == 17
    assert all(r.limit == "user_daily_tokens" for r in refused)
    for r in granted:
        await plane.budgets.commit(r, 300, 0.001)
    usage = (await plane.budgets.usage())["u1"]
    assert usage["tokens"] == 9_900 and usage["reserved_tokens"] == 0


async def test_request_limit_and_cost_limit(plane):
    with pytest.raises(BudgetExceeded) as exc:
        await plane.budgets.reserve("u", 4001, 0.0)
    assert exc.value.limit == "request_tokens"
    await plane.budgets.set("user_daily_cost_usd", 0.05)
    r = await plane.budgets.reserve("u", 10, 0.04)
    await plane.budgets.commit(r, 10, 0.04)
    with pytest.raises(BudgetExceeded) as exc:
        await plane.budgets.reserve("u", 10, 0.02)
    assert exc.value.limit == "user_daily_cost_usd"


@pytest.mark.parametrize("name,value", [("user-daily-tokens", -5), ("nope", 1), ("request", "x")])
async def test_bad_budget_values(plane, name, value):
    with pytest.raises(InvalidValue):
        await plane.budgets.set(name, value)


async def test_zero_sized_reservation_commits_and_expires_cleanly(plane):
    """A model with no price reserves $0: Lua must not send HINCRBY '-0' (Redis refuses it)."""
    r = await plane.budgets.reserve("u0", 0, 0.0)
    await plane.budgets.commit(r, 0, 0.0)
    usage = (await plane.budgets.usage())["u0"]
    assert usage["tokens"] == 0 and usage["reserved_tokens"] == 0
