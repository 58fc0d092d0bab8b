"""The OpenAI Agents SDK's real Runner, with a scripted ``Model`` (its own model interface)."""

from __future__ import annotations

import asyncio
import itertools
import re

import pytest

from agentconsole.agent import AgentKilled, BreakerOpen, TokenBudgetExceeded
from tests.agent.conftest import sample
from tests.fixtures.wait import killed_row
from tests.integrations.conftest import booked_tokens, eventually

agents = pytest.importorskip("agents")
from agents import Agent, Model, ModelResponse, Usage, function_tool  # noqa: E402
from agents.tracing import set_trace_processors  # noqa: E402
from openai.types.responses import (  # noqa: E402
    ResponseFunctionToolCall,
    ResponseOutputMessage,
    ResponseOutputText,
)

from agentconsole.integrations import openai_agents  # noqa: E402

set_trace_processors([])  # offline: no exporter
_ids = itertools.count(1)


def tool_call(name: str = "lookup") -> ModelResponse:
    n = next(_ids)
    call = ResponseFunctionToolCall(
        arguments="{}", call_id=f"call_{n}", name=name, type="function_call", id=f"fc_{n}"
    )
    return ModelResponse(output=[call], usage=usage(), response_id=f"resp_{n}")


def answer(text: str = "done") -> ModelResponse:
    n = next(_ids)
    message = ResponseOutputMessage(
        id=f"msg_{n}",
        content=[ResponseOutputText(annotations=[], text=text, type="output_text")],
        role="assistant",
        status="completed",
        type="message",
    )
    return ModelResponse(output=[message], usage=usage(), response_id=f"resp_{n}")


def usage() -> Usage:
    return Usage(requests=1, input_tokens=21, output_tokens=4, total_tokens=25)


class ScriptedModel(Model):
    """Plays ``script(n)`` for the n-th call (0-based); raises what it returns if an error."""

    def __init__(self, script, name: str = "scripted-small") -> None:
        self.script = script
        self.model = name
        self.calls = 0

    async def get_response(self, *args, **kwargs) -> ModelResponse:
        n, self.calls = self.calls, self.calls + 1
        reply = self.script(n)
        if isinstance(reply, Exception):
            raise reply
        return reply

    async def stream_response(self, *args, **kwargs):
        """One ``response.completed`` event carrying the scripted output and usage."""
        from openai.types.responses import Response, ResponseCompletedEvent, ResponseUsage

        reply = await self.get_response()
        response = Response(
            id=reply.response_id,
            created_at=0,
            model=self.model,
            object="response",
            output=reply.output,
            parallel_tool_calls=False,
            tool_choice="auto",
            tools=[],
            usage=ResponseUsage(
                input_tokens=reply.usage.input_tokens,
                output_tokens=reply.usage.output_tokens,
                total_tokens=reply.usage.total_tokens,
                input_tokens_details={"cached_tokens": 0, "cache_write_tokens": 0},
                output_tokens_details={"reasoning_tokens": 0},
            ),
        )
        yield ResponseCompletedEvent(
            response=response, type="response.completed", sequence_number=0
        )


@function_tool
async def lookup() -> str:
    """Look something up."""
    await asyncio.sleep(0.005)
    return "nothing yet"


def looping_agent(model: Model) -> Agent:
    return Agent(name="looper", instructions="keep looking", model=model, tools=[lookup])


async def test_usage_booked_equals_what_the_model_reported(plane, runtime):
    model = ScriptedModel(lambda n: tool_call() if n < 2 else answer())
    result = await openai_agents.run(
        looping_agent(model), "find it", runtime=runtime, user="oa1", tenant="acme"
    )
    assert result.final_output == "done" and model.calls == 3
    assert (await booked_tokens(plane, "oa1", 75))["tokens"] == 75
    (record,) = [a for a in await plane.agents.list() if a.user == "oa1"]
    assert (record.tokens_in, record.tokens_out, record.status) == (63, 12, "finished")
    assert record.steps == 5  # three model turns and two tool calls
    assert sample(runtime, "agent_runs_total", outcome="success") == 1


async def test_agent_looping_on_a_tool_is_killed_from_the_cli(plane, runtime, acli):
    await plane.budgets.set("run_max_steps", 100_000)  # a loop that only a kill ends
    await runtime.wait_for_version(await plane.version())
    model = ScriptedModel(lambda n: tool_call())
    task = asyncio.create_task(
        openai_agents.run(
            looping_agent(model),
            "loop",
            runtime=runtime,
            user="oa2",
            tenant="t-oa2",
            max_turns=1_000_000,
        )
    )
    await eventually(lambda: model.calls >= 2, "the loop to run")
    result = await acli("agents", "kill", "--tenant", "t-oa2", "--yes", "--reason", "loops")
    assert re.fullmatch(
        r"killed 1 agent, 1 acknowledged in Redis within \d+ ms of the kill\n", result.out
    ), result.err
    with pytest.raises(AgentKilled):
        await asyncio.wait_for(task, 30)
    calls = model.calls
    await asyncio.sleep(0.05)
    assert model.calls == calls  # nothing keeps running behind the kill


async def test_tripped_breaker_stops_the_next_model_call(plane, runtime):
    model = ScriptedModel(lambda n: tool_call() if n == 0 else answer())
    tripped = asyncio.Event()

    @function_tool
    async def trip() -> str:
        """The operator trips the breaker while the tool runs."""
        await plane.breakers.trip("openai", for_seconds=60, reason="provider outage")
        await runtime.wait_for_version(await plane.version())
        tripped.set()
        return "tripped"

    agent = Agent(name="a", model=model, tools=[trip])
    model.script = lambda n: tool_call("trip") if n == 0 else answer()
    with pytest.raises(BreakerOpen):
        await openai_agents.run(agent, "go", runtime=runtime, user="oa3")
    assert tripped.is_set() and model.calls == 1  # the second model call never happened


async def test_model_failures_feed_the_breaker(runtime):
    from agentconsole.agent import DependencyError

    model = ScriptedModel(lambda n: DependencyError("unavailable", status=503))
    with pytest.raises(DependencyError):
        await openai_agents.run(looping_agent(model), "x", runtime=runtime)
    assert (
        sample(
            runtime, "agent_dependency_errors_total", dependency="openai", error_type="unavailable"
        )
        == 1
    )


async def test_budget_refusal(plane, runtime):
    from agentconsole.agent.model_call import active_run

    await plane.budgets.set("user_daily_tokens", 40)  # each model call reports 25 tokens
    await runtime.wait_for_version(await plane.version())

    @function_tool
    async def slow() -> str:
        """A tool that lasts until the booking of the model call before it has returned."""
        run = active_run()
        if model.calls == 1:
            await booked_tokens(plane, "oa4", 25)
        else:
            await eventually(lambda: run.over_budget, "the booking's verdict")
        return "ok"

    model = ScriptedModel(lambda n: tool_call("slow"))
    agent = Agent(name="a", model=model, tools=[slow])
    with pytest.raises(TokenBudgetExceeded) as info:
        await openai_agents.run(agent, "x", runtime=runtime, user="oa4", max_turns=50)
    assert info.value.limit == "user_daily_tokens" and model.calls == 2
    assert (await booked_tokens(plane, "oa4", 50))["tokens"] == 50


async def test_flag_picks_the_model_and_the_trace_carries_the_run(plane, runtime):
    await plane.flags.create("agents-big", enabled=True, rollout=100)
    await runtime.wait_for_version(await plane.version())
    big, small = ScriptedModel(lambda n: answer("big")), ScriptedModel(lambda n: answer("small"))
    seen = {}

    class Capture(agents.RunHooks):
        async def on_agent_start(self, context, agent):
            seen["trace"] = agents.get_current_trace().trace_id

    async with runtime.run(task="flagged", user="oa5") as run:
        agent = Agent(name="a", model=big if run.flag("agents-big") else small)
        result = await openai_agents.run(agent, "x", runtime=runtime, hooks=Capture())
    assert result.final_output == "big" and small.calls == 0
    assert seen["trace"] == f"trace_{run.trace_id}"


async def test_run_streamed_is_killed_and_its_background_run_cancelled(plane, runtime):
    await plane.budgets.set("run_max_steps", 100_000)
    await runtime.wait_for_version(await plane.version())
    model = ScriptedModel(lambda n: tool_call())
    ids, events = [], 0

    async def consume():
        nonlocal events
        async with openai_agents.run_streamed(
            looping_agent(model), "loop", runtime=runtime, user="oa6", max_turns=1_000_000
        ) as result:
            ids.append(runtime.active_runs)
            async for _ in result.stream_events():
                events += 1

    task = asyncio.create_task(consume())
    await eventually(lambda: model.calls >= 2, "the streamed loop to run")
    (agent_id,) = [a.id for a in await plane.agents.list() if a.user == "oa6"]
    await plane.kills.kill(agent=agent_id, reason="stop streaming")
    with pytest.raises(AgentKilled):
        await asyncio.wait_for(task, 30)
    calls = model.calls
    await asyncio.sleep(0.05)
    assert model.calls == calls and events > 0
    await killed_row(plane, agent_id)


async def test_usage_reported_by_two_layers_is_booked_once(plane, runtime):
    """The Agents SDK's hooks over a wrapped OpenAI client: both see each request."""
    import httpx
    from agents import OpenAIChatCompletionsModel
    from openai import AsyncOpenAI

    from agentconsole.integrations import openai_client
    from tests.integrations.conftest import FakeProvider
    from tests.integrations.test_openai_client import completion

    provider = FakeProvider(completion)  # 11 + 7 tokens per request
    raw = AsyncOpenAI(
        api_key="t",
        max_retries=0,
        http_client=httpx.AsyncClient(transport=httpx.MockTransport(provider.handler(httpx))),
    )
    client = openai_client.guard(raw, runtime)
    agent = Agent(name="a", model=OpenAIChatCompletionsModel("gpt-4o-mini", client))
    async with runtime.run(task="two layers", user="oa7") as run:
        result = await openai_agents.run(agent, "hi", runtime=runtime)
        result = await openai_agents.run(agent, "again", runtime=runtime)
    assert result.final_output == "ok" and len(provider.requests) == 2
    assert (run.record.tokens_in, run.record.tokens_out) == (22, 14)
    assert run.steps == 2  # one step per request, not one per layer
    usage = await booked_tokens(plane, "oa7", 36)
    await asyncio.sleep(0.2)  # nothing else arrives later
    assert (await plane.budgets.usage())["oa7"]["tokens"] == usage["tokens"] == 36


async def test_redis_down_keeps_working_on_the_last_snapshot(
    settings, plane, make_runtime, redis_server
):
    from tests.fixtures.tcp_proxy import tcp_proxy

    with tcp_proxy(redis_server.port) as proxy:
        settings.redis.url = f"redis://127.0.0.1:{proxy.port}/0"
        settings.redis.connect_timeout = 0.3
        rt = await make_runtime(
            settings=settings, stale_limit=3600, report_interval=0.05, resync_interval=0.2
        )
        await plane.breakers.trip("search", for_seconds=600, reason="kept while offline")
        await rt.wait_for_version(await plane.version())
        model = ScriptedModel(lambda n: tool_call() if n == 0 else answer())
        async with rt.run(task="t", user="oa8") as run:
            proxy.refuse()
            proxy.drop()
            await eventually(lambda: not rt.connected, "the outage to be noticed")
            result = await openai_agents.run(looping_agent(model), "x", runtime=rt)
            assert result.final_output == "done" and run.steps == 3
            assert rt.breakers.effective("search") == "open"  # the last snapshot holds
            proxy.accept()
            await eventually(lambda: rt.connected and not rt.budget.offline_pending, "flush")
        assert (await booked_tokens(plane, "oa8", 50))["tokens"] == 50
