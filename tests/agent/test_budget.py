import asyncio

import pytest

from agentconsole.agent import RunawayStopped, TokenBudgetExceeded
from agentconsole.config import ModelPrice
from tests.agent.conftest import sample


@pytest.fixture
def priced(settings):
    settings.prices = {"gpt-x": ModelPrice(input_per_1k=0.01, output_per_1k=0.03)}
    return settings


async def test_charge_prices_and_commits(plane, priced, make_runtime):
    rt = await make_runtime(settings=priced)
    async with rt.run(task="t", user="u1", tenant="acme") as run:
        cost = await run.charge(model="gpt-x", input_tokens=1000, output_tokens=500)
    assert cost == pytest.approx(0.025)
    usage = (await plane.budgets.usage())["u1"]
    assert usage["tokens"] == 1500 and usage["cost_usd"] == pytest.approx(0.025)
    assert usage["reserved_tokens"] == 0
    assert sample(rt, "agent_tokens_total", type="output", model="gpt-x", tenant="acme") == 500
    assert sample(rt, "agent_cost_usd_total", model="gpt-x", tenant="acme") == pytest.approx(0.025)
    record = await plane.agents.get(run.id)
    assert record.tokens == 1500 and record.status == "finished"


async def test_request_limit_says_which_limit(plane, runtime):
    await plane.budgets.set("request_tokens", 1000)
    await runtime.wait_for_version(await plane.version())
    with pytest.raises(TokenBudgetExceeded) as info:
        async with runtime.run(task="t", user="u1") as run:
            await run.charge(model="m", input_tokens=900, output_tokens=200)
    assert info.value.limit == "request_tokens"
    assert run.outcome == "budget_exceeded"
    assert sample(runtime, "agent_budget_rejections_total", limit="request_tokens") == 1


async def test_concurrent_agents_never_overshoot_the_daily_limit(plane, priced, make_runtime):
    # 150 agents: more concurrent calls than redis-py's default pool of 100 connections
    await plane.budgets.set("user_daily_tokens", 30_000)
    rt = await make_runtime(settings=priced)
    await rt.wait_for_version(await plane.version())

    async def agent(i: int) -> int:
        charged = 0
        try:
            async with rt.run(task=f"t{i}", user="shared") as run:
                for _ in range(5):
                    await run.charge(model="gpt-x", input_tokens=200, output_tokens=100)
                    charged += 300
        except TokenBudgetExceeded as exc:
            assert exc.limit == "user_daily_tokens"
        return charged

    charged = await asyncio.gather(*(agent(i) for i in range(150)))
    usage = (await plane.budgets.usage())["shared"]
    assert usage["tokens"] == sum(charged) == 30_000  # exactly 100 charges of 300 fit
    assert usage["reserved_tokens"] == 0
    assert rt.connected and not rt.budget.offline_pending  # never mistook a busy pool for an outage


async def test_reserve_then_commit_what_was_used(plane, priced, make_runtime):
    rt = await make_runtime(settings=priced)
    async with rt.run(task="t", user="u2") as run:
        async with run.reserve(model="gpt-x", input_tokens=500, max_output_tokens=1500) as usage:
            held = (await plane.budgets.usage())["u2"]
            assert held["reserved_tokens"] == 2000
            usage.set(input_tokens=500, output_tokens=120)
        with pytest.raises(RuntimeError):
            async with run.reserve(model="gpt-x", input_tokens=100, max_output_tokens=100):
                raise RuntimeError("the call failed before using anything")
    used = (await plane.budgets.usage())["u2"]
    assert used["tokens"] == 620 and used["reserved_tokens"] == 0


async def test_runaway_guard_by_steps(plane, runtime):
    await plane.budgets.set("run_max_steps", 3)
    await runtime.wait_for_version(await plane.version())
    with pytest.raises(RunawayStopped) as info:
        async with runtime.run(task="loop") as run:
            while True:
                run.step()
    assert info.value.limit == "steps" and run.steps == 4
    assert run.outcome == "runaway"
    assert sample(runtime, "agent_runaway_total", limit="steps") == 1
    assert (await plane.agents.get(run.id)).status == "failed"


async def test_runaway_guard_by_wall_clock_stops_a_stuck_call(plane, runtime):
    await plane.budgets.set("run_max_seconds", 0.2)
    await runtime.wait_for_version(await plane.version())
    with pytest.raises(RunawayStopped) as info:
        async with runtime.run(task="stuck") as run:
            await run.call("llm", asyncio.sleep, 30)
    assert info.value.limit == "seconds"
    assert sample(runtime, "agent_runaway_total", limit="seconds") == 1


async def test_unpriced_model_charges_tokens_at_zero_cost(plane, runtime):
    async with runtime.run(task="t", user="u3") as run:
        assert await run.charge(model="local-llama", input_tokens=100, output_tokens=50) == 0.0
        assert await run.charge(model="local-llama", input_tokens=0, output_tokens=0) == 0.0
    usage = (await plane.budgets.usage())["u3"]
    assert usage["tokens"] == 150 and usage["cost_usd"] == 0
    assert usage["reserved_tokens"] == 0 and usage["reserved_cost_usd"] == 0
