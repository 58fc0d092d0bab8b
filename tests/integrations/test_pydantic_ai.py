"""PydanticAI's real agent graph with its own doubles, FunctionModel and TestModel."""

from __future__ import annotations

import asyncio
import re

import pytest

from agentconsole.agent import AgentKilled, BreakerOpen, DependencyError, TokenBudgetExceeded
from tests.agent.conftest import sample
from tests.fixtures.tcp_proxy import tcp_proxy
from tests.integrations.conftest import booked_tokens, eventually

pytest.importorskip("pydantic_ai")
from pydantic_ai import Agent
from pydantic_ai.messages import ModelResponse, TextPart, ToolCallPart
from pydantic_ai.models.function import FunctionModel
from pydantic_ai.models.test import TestModel
from pydantic_ai.usage import RequestUsage, UsageLimits

from agentconsole.integrations.pydantic_ai import Console


def scripted(turn, calls: list[int] | None = None) -> FunctionModel:
    """A FunctionModel playing ``turn(n)`` for its n-th request; 8 in / 2 out tokens each."""
    count = calls if calls is not None else []

    def respond(messages, info):
        n = len(count)
        count.append(n)
        reply = turn(n)
        if isinstance(reply, Exception):
            raise reply
        return ModelResponse(parts=[reply], usage=RequestUsage(input_tokens=8, output_tokens=2))

    return FunctionModel(respond, model_name="fn-small")


def looks_up(n: int):
    return ToolCallPart(tool_name="lookup", args={}, tool_call_id=f"call_{n}")


def agent_for(model, runtime, **console) -> Agent:
    agent = Agent(model, capabilities=[Console(runtime, **console)])

    @agent.tool_plain
    async def lookup() -> str:
        """Look something up."""
        await asyncio.sleep(0.005)
        return "nothing yet"

    return agent


def reported(result) -> tuple[int, int]:
    """What the model's responses in the run's history reported."""
    responses = [m for m in result.all_messages() if isinstance(m, ModelResponse)]
    return sum(r.usage.input_tokens for r in responses), sum(
        r.usage.output_tokens for r in responses
    )


async def test_usage_booked_equals_what_the_model_reported(plane, runtime):
    model = scripted(lambda n: looks_up(n) if n < 2 else TextPart("done"))
    agent = agent_for(model, runtime)
    async with runtime.run(task="t", user="pa1", tenant="acme") as run:
        result = await agent.run("find it")
    assert result.output == "done"
    assert reported(result) == (24, 6) == (run.record.tokens_in, run.record.tokens_out)
    assert run.steps == 5  # three model requests, two tool calls
    assert (await booked_tokens(plane, "pa1", 30))["tokens"] == 30
    deps = sample(runtime, "agent_dependency_calls_total", dependency="function", outcome="success")
    assert deps == 3  # the dependency is the model's provider name (FunctionModel: function)


async def test_agent_looping_on_a_tool_is_killed_from_the_cli(plane, runtime, acli):
    await plane.budgets.set("run_max_steps", 100_000)  # a loop that only a kill ends
    await runtime.wait_for_version(await plane.version())
    calls: list[int] = []
    agent = agent_for(scripted(looks_up, calls), runtime)

    async def loop():
        async with runtime.run(task="pai loop", user="pa2", tenant="t-pa2"):
            await agent.run("loop", usage_limits=UsageLimits(request_limit=None))

    task = asyncio.create_task(loop())
    await eventually(lambda: len(calls) >= 2, "the loop to run")
    result = await acli("agents", "kill", "--tenant", "t-pa2", "--yes", "--reason", "loops")
    assert re.fullmatch(
        r"killed 1 agent, 1 acknowledged in Redis within \d+ ms of the kill\n", result.out
    ), result.err
    with pytest.raises(AgentKilled):
        await asyncio.wait_for(task, 30)
    count = len(calls)
    await asyncio.sleep(0.05)
    assert len(calls) == count


async def test_tripped_breaker_stops_the_next_model_request(plane, runtime):
    calls: list[int] = []
    model = scripted(
        lambda n: (
            ToolCallPart(tool_name="trip", args={}, tool_call_id="c1")
            if n == 0
            else TextPart("done")
        ),
        calls,
    )
    agent = Agent(model, capabilities=[Console(runtime, dependency="openai")])

    @agent.tool_plain
    async def trip() -> str:
        """The operator trips the breaker while the tool runs."""
        await plane.breakers.trip("openai", for_seconds=60, reason="provider outage")
        await runtime.wait_for_version(await plane.version())
        return "tripped"

    with pytest.raises(BreakerOpen):
        async with runtime.run(task="t", user="pa3"):
            await agent.run("go")
    assert calls == [0]  # the second request never reached the model


async def test_model_failures_feed_the_breaker(runtime):
    agent = agent_for(scripted(lambda n: DependencyError("unavailable", status=503)), runtime)
    with pytest.raises(DependencyError):
        async with runtime.run(task="t"):
            await agent.run("x")
    errors = sample(
        runtime, "agent_dependency_errors_total", dependency="function", error_type="unavailable"
    )
    assert errors == 1


async def test_budget_refusal_with_iter(plane, runtime):
    await plane.budgets.set("user_daily_tokens", 15)  # each request reports 10 tokens
    await runtime.wait_for_version(await plane.version())
    calls: list[int] = []
    agent = agent_for(scripted(looks_up, calls), runtime)
    with pytest.raises(TokenBudgetExceeded) as info:
        async with runtime.run(task="t", user="pa4") as run, agent.iter("x") as agent_run:
            async for _node in agent_run:
                await eventually(lambda: run.pending_bookings == 0, "the booking")
    assert info.value.limit == "user_daily_tokens" and len(calls) == 2
    assert (await booked_tokens(plane, "pa4", 20))["tokens"] == 20
    # the per-request limit against the request's max_tokens, before the model is asked
    with pytest.raises(TokenBudgetExceeded) as info:
        async with runtime.run(task="t", user="pa5"):
            await agent.run("x", model_settings={"max_tokens": 9000})
    assert info.value.limit == "request_tokens" and len(calls) == 2


async def test_flag_picks_the_model(plane, runtime):
    await plane.flags.create("pai-big", enabled=True, rollout=100)
    await runtime.wait_for_version(await plane.version())
    agent = Agent(capabilities=[Console(runtime)])
    big, small = TestModel(custom_output_text="big"), TestModel(custom_output_text="small")
    async with runtime.run(task="t", user="pa6") as run:
        result = await agent.run("x", model=big if run.flag("pai-big") else small)
    assert result.output == "big" and run.steps == 1


async def test_redis_down_keeps_working_on_the_last_snapshot(
    settings, plane, make_runtime, redis_server
):
    with tcp_proxy(redis_server.port) as proxy:
        settings.redis.url = f"redis://127.0.0.1:{proxy.port}/0"
        settings.redis.connect_timeout = 0.3
        rt = await make_runtime(
            settings=settings, stale_limit=3600, report_interval=0.05, resync_interval=0.2
        )
        await rt.wait_for_version(await plane.version())
        agent = agent_for(scripted(lambda n: looks_up(n) if n == 0 else TextPart("done")), rt)
        async with rt.run(task="t", user="pa7"):
            proxy.refuse()
            proxy.drop()
            await eventually(lambda: not rt.connected, "the outage to be noticed")
            result = await agent.run("x")
            proxy.accept()
            await eventually(lambda: rt.connected and not rt.budget.offline_pending, "flush")
        assert result.output == "done"
        assert (await booked_tokens(plane, "pa7", 20))["tokens"] == 20
