"""A tenant's daily cap stops its agents' model calls once its day has reached it."""

from __future__ import annotations

import asyncio

import pytest

from agentconsole.agent import TokenBudgetExceeded
from agentconsole.config import ModelPrice
from tests.agent.conftest import sample


@pytest.fixture
def priced(settings):
    settings.prices = {"gpt-x": ModelPrice(input_per_1k=0.01, output_per_1k=0.03)}
    return settings


async def charge_until_refused(rt, tenant: str, user: str, times: int = 20) -> tuple[int, str]:
    """Charges of $0.025 each; how many passed before the refusal, and which limit."""
    passed = 0
    try:
        async with rt.run(task="t", user=user, tenant=tenant) as run:
            for _ in range(times):
                await run.charge(model="gpt-x", input_tokens=1000, output_tokens=500)
                passed += 1
    except TokenBudgetExceeded as exc:
        return passed, exc.limit
    return passed, ""


async def test_a_tenants_own_cap_refuses_its_calls_and_no_one_elses(plane, priced, make_runtime):
    rt = await make_runtime(settings=priced)
    await plane.budgets.set_tenant_cap("globex", 0.1, reason="burning")  # four charges
    assert await charge_until_refused(rt, "globex", "g1") == (4, "tenant_daily_cost_usd")
    # another user of globex: the cap is the tenant's, not the user's
    assert await charge_until_refused(rt, "globex", "g2", 3) == (0, "tenant_daily_cost_usd")
    assert await charge_until_refused(rt, "acme", "a1", 6) == (6, "")  # acme has no cap
    assert sample(rt, "agent_budget_rejections_total", limit="tenant_daily_cost_usd") == 2
    # lifting the cap (0) lets globex spend again; the default cap then applies
    await plane.budgets.set_tenant_cap("globex", 0, reason="handled")
    assert await charge_until_refused(rt, "globex", "g1", 2) == (2, "")
    await plane.budgets.set("tenant_daily_cost_usd", 0.2, reason="every tenant")
    assert await charge_until_refused(rt, "globex", "g1", 9) == (2, "tenant_daily_cost_usd")


async def test_concurrent_agents_of_a_tenant_stop_at_its_cap(plane, priced, make_runtime):
    """Committed cost counts: calls in flight may pass the cap by their own cost, no more."""
    rt = await make_runtime(settings=priced)
    await plane.budgets.set_tenant_cap("globex", 1.0, reason="test")  # 40 charges

    results = await asyncio.gather(
        *(charge_until_refused(rt, "globex", f"u{i}", 10) for i in range(20))
    )
    charged = sum(n for n, _ in results)
    assert 40 <= charged <= 40 + 20  # at most one call in flight per agent past the cap
    assert all(limit == "tenant_daily_cost_usd" for n, limit in results if n < 10)


async def test_usage_booked_after_the_call_stops_the_runs_next_call(plane, priced, make_runtime):
    rt = await make_runtime(settings=priced)
    await plane.budgets.set_tenant_cap("globex", 0.05, reason="test")
    async with rt.run(task="t", user="g1", tenant="globex") as run:
        for _ in range(3):  # $0.075 booked, past the $0.05 cap
            run.book(model="gpt-x", input_tokens=1000, output_tokens=500)

        async def marked() -> None:
            while run.over_budget is None:
                await asyncio.sleep(0.02)

        await asyncio.wait_for(marked(), 10)
        assert run.over_budget.limit == "tenant_daily_cost_usd"
        with pytest.raises(TokenBudgetExceeded):
            rt.budget.gate(run)


async def test_a_booking_at_the_cap_stops_the_tenants_new_runs_until_the_cap_changes(
    plane, priced, make_runtime
):
    rt = await make_runtime(settings=priced)
    await plane.budgets.set_tenant_cap("globex", 0.05, reason="test")
    await rt.wait_for_version(await plane.version())
    async with rt.run(task="t", user="g1", tenant="globex") as run:
        for _ in range(3):
            run.book(model="gpt-x", input_tokens=1000, output_tokens=500)

        async def marked() -> None:
            while run.over_budget is None:
                await asyncio.sleep(0.02)

        await asyncio.wait_for(marked(), 10)
    async with rt.run(task="t", user="g2", tenant="globex") as fresh:  # a new run: refused
        with pytest.raises(TokenBudgetExceeded):
            rt.budget.gate(fresh)
    async with rt.run(task="t", user="a1", tenant="acme") as other:  # another tenant: not
        rt.budget.gate(other)
    await plane.budgets.set_tenant_cap("globex", 100, reason="raised")
    await rt.wait_for_version(await plane.version())
    async with rt.run(task="t", user="g3", tenant="globex") as after:
        rt.budget.gate(after)  # the cap changed: the next booking re-checks


async def test_closing_the_runtime_commits_the_last_window_of_bookings(plane, priced, make_runtime):
    """Usage booked just before the runtime closes is committed, not lost with the window's
    timer (which would also have started a task on a loop about to end)."""
    rt = await make_runtime(settings=priced)
    async with rt.run(task="t", user="late", tenant="globex") as run:
        run.book(model="gpt-x", input_tokens=1000, output_tokens=500)  # $0.025
    await rt.close()
    assert rt.budget._flush is None
    used = (await plane.budgets.usage()).get("late", {})
    assert used.get("tokens") == 1500 and used.get("cost_usd") == pytest.approx(0.025)
