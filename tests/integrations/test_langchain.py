"""LangChain chat models and a LangGraph graph, with LangChain's own GenericFakeChatModel."""

from __future__ import annotations

import asyncio
import itertools
import re

import pytest

from agentconsole.agent import AgentKilled, BreakerOpen, DependencyError, TokenBudgetExceeded
from tests.agent.conftest import sample
from tests.fixtures.tcp_proxy import tcp_proxy
from tests.fixtures.wait import killed_row
from tests.integrations.conftest import booked_tokens, eventually

pytest.importorskip("langchain_core")
pytest.importorskip("langgraph")
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.tools import tool
from langgraph.graph import START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode, tools_condition

from agentconsole.integrations.langchain import ConsoleCallbackHandler

USAGE = {"input_tokens": 9, "output_tokens": 3, "total_tokens": 12}
_ids = itertools.count(1)


def calls_tool(name: str = "lookup") -> AIMessage:
    call = {"name": name, "args": {}, "id": f"call_{next(_ids)}", "type": "tool_call"}
    return AIMessage(content="", tool_calls=[call], usage_metadata=USAGE)


def answers(text: str = "done") -> AIMessage:
    return AIMessage(content=text, usage_metadata=USAGE)


def fake_model(messages, counter: list[int] | None = None) -> GenericFakeChatModel:
    """LangChain's fake chat model; ``counter`` counts the messages it handed out."""

    def counted():
        for message in messages:
            if counter is not None:
                counter.append(1)
            yield message

    # streaming drops tool_calls and usage_metadata in this fake: the tool loops invoke
    return GenericFakeChatModel(messages=counted(), disable_streaming=True)


@tool
async def lookup() -> str:
    """Look something up."""
    await asyncio.sleep(0.005)
    return "nothing yet"


def graph_for(model, tools=(lookup,), **tool_node):
    """The usual LangGraph agent: a model node, a ToolNode, tools_condition between them."""

    async def agent(state: MessagesState):
        return {"messages": [await model.ainvoke(state["messages"])]}

    graph = StateGraph(MessagesState)
    graph.add_node("agent", agent)
    graph.add_node("tools", ToolNode(list(tools), **tool_node))
    graph.add_edge(START, "agent")
    graph.add_conditional_edges("agent", tools_condition)
    graph.add_edge("tools", "agent")
    return graph.compile()


def start(text: str = "find it") -> dict:
    return {"messages": [HumanMessage(text)]}


async def test_usage_booked_equals_what_the_model_reported(plane, runtime):
    handler = ConsoleCallbackHandler(runtime, dependency="openai")
    graph = graph_for(fake_model(iter([calls_tool(), calls_tool(), answers()])))
    async with runtime.run(task="graph", user="lc1", tenant="acme") as run:
        state = await graph.ainvoke(start(), config={"callbacks": [handler]})
    assert state["messages"][-1].content == "done"
    assert run.steps == 5  # three model calls, two tool calls
    assert (run.record.tokens_in, run.record.tokens_out) == (27, 9)
    assert (await booked_tokens(plane, "lc1", 36))["tokens"] == 36
    calls = sample(runtime, "agent_dependency_calls_total", dependency="openai", outcome="success")
    assert calls == 3


async def test_graph_looping_on_a_tool_is_killed_from_the_cli(plane, runtime, acli):
    await plane.budgets.set("run_max_steps", 100_000)  # a loop that only a kill ends
    await runtime.wait_for_version(await plane.version())
    handed_out: list[int] = []
    graph = graph_for(fake_model((calls_tool() for _ in itertools.count()), handed_out))
    handler = ConsoleCallbackHandler(runtime)
    ids = []

    async def agent():
        async with runtime.run(task="graph loop", user="lc2", tenant="t-lc2") as run:
            ids.append(run.id)
            config = {"callbacks": [handler], "recursion_limit": 1_000_000}
            await graph.ainvoke(start("loop"), config=config)

    task = asyncio.create_task(agent())
    await eventually(lambda: len(handed_out) >= 2, "the loop to run")
    result = await acli("agents", "kill", "--tenant", "t-lc2", "--yes", "--reason", "loops")
    assert re.fullmatch(
        r"killed 1 agent, 1 acknowledged in Redis within \d+ ms of the kill\n", result.out
    ), result.err
    with pytest.raises(AgentKilled):
        await asyncio.wait_for(task, 30)
    count = len(handed_out)
    await asyncio.sleep(0.05)
    assert len(handed_out) == count
    await killed_row(plane, ids[0])


async def test_tripped_breaker_stops_the_next_model_call(plane, runtime):
    @tool
    async def trip() -> str:
        """The operator trips the breaker while the tool runs."""
        await plane.breakers.trip("openai", for_seconds=60, reason="provider outage")
        await runtime.wait_for_version(await plane.version())
        return "tripped"

    handed_out: list[int] = []
    graph = graph_for(fake_model(iter([calls_tool("trip"), answers()]), handed_out), [trip])
    handler = ConsoleCallbackHandler(runtime, dependency="openai")
    with pytest.raises(BreakerOpen):
        async with runtime.run(task="t", user="lc3"):
            await graph.ainvoke(start(), config={"callbacks": [handler]})
    assert len(handed_out) == 1  # the second model call never reached the model


async def test_model_errors_feed_the_breaker(runtime):
    class Failing(GenericFakeChatModel):
        async def _agenerate(self, *args, **kwargs):
            raise DependencyError("unavailable", status=503)

    model = Failing(messages=iter([]))
    handler = ConsoleCallbackHandler(runtime, dependency="openai")
    with pytest.raises(DependencyError):
        async with runtime.run(task="t"):
            await model.ainvoke("hi", config={"callbacks": [handler]})
    errors = sample(
        runtime, "agent_dependency_errors_total", dependency="openai", error_type="unavailable"
    )
    assert errors == 1


async def test_budget_refusal(plane, runtime):
    await plane.budgets.set("user_daily_tokens", 20)  # each model call reports 12
    await runtime.wait_for_version(await plane.version())
    handler = ConsoleCallbackHandler(runtime)
    model = fake_model(iter([answers(), answers(), answers()]))
    with pytest.raises(TokenBudgetExceeded) as info:
        async with runtime.run(task="t", user="lc4") as run:
            for _ in range(3):
                await model.ainvoke("hi", config={"callbacks": [handler]})
                await eventually(lambda: run.pending_bookings == 0, "the booking")
    assert info.value.limit == "user_daily_tokens"
    assert (await booked_tokens(plane, "lc4", 24))["tokens"] == 24  # two calls, no third


async def test_flag_picks_the_model_and_astream_is_guarded(plane, runtime):
    await plane.flags.create("lc-big", enabled=True, rollout=100)
    await runtime.wait_for_version(await plane.version())
    big = GenericFakeChatModel(messages=iter([AIMessage("big answer")]))
    small = GenericFakeChatModel(messages=iter([AIMessage("small answer")]))
    handler = ConsoleCallbackHandler(runtime, dependency="openai")
    async with runtime.run(task="t", user="lc5") as run:
        model = big if run.flag("lc-big") else small
        chunks = [c.content async for c in model.astream("hi", config={"callbacks": [handler]})]
    assert "".join(chunks) == "big answer" and run.steps == 1
    assert sample(runtime, "agent_dependency_calls_total", dependency="openai", outcome="success")


async def test_redis_down_keeps_working_on_the_last_snapshot(
    settings, plane, make_runtime, redis_server
):
    with tcp_proxy(redis_server.port) as proxy:
        settings.redis.url = f"redis://127.0.0.1:{proxy.port}/0"
        settings.redis.connect_timeout = 0.3
        rt = await make_runtime(
            settings=settings, stale_limit=3600, report_interval=0.05, resync_interval=0.2
        )
        await plane.breakers.trip("search", for_seconds=600, reason="kept while offline")
        await rt.wait_for_version(await plane.version())
        handler = ConsoleCallbackHandler(rt, dependency="openai")
        graph = graph_for(fake_model(iter([calls_tool(), answers()])))
        async with rt.run(task="t", user="lc6") as run:
            proxy.refuse()
            proxy.drop()
            await eventually(lambda: not rt.connected, "the outage to be noticed")
            state = await graph.ainvoke(start(), config={"callbacks": [handler]})
            assert state["messages"][-1].content == "done" and run.steps == 3
            assert rt.breakers.effective("search") == "open"  # the last snapshot holds
            proxy.accept()
            await eventually(lambda: rt.connected and not rt.budget.offline_pending, "flush")
        assert (await booked_tokens(plane, "lc6", 24))["tokens"] == 24


async def test_guarded_tools_feed_and_obey_their_own_breaker(plane, runtime):
    from agentconsole.agent import BreakerConfig

    rt = runtime
    rt.breakers.per_dependency["flaky"] = BreakerConfig(window=2, min_calls=2, wait_open=60)

    @tool
    async def flaky() -> str:
        """A tool whose backend is down."""
        raise DependencyError("unavailable", status=503)

    handler = ConsoleCallbackHandler(rt, dependency="openai", guard_tools=True)
    graph = graph_for(
        fake_model(calls_tool("flaky") for _ in range(3)), [flaky], handle_tool_errors=False
    )
    for _ in range(2):
        with pytest.raises(DependencyError):
            async with rt.run(task="t", user="lc7"):
                await graph.ainvoke(start(), config={"callbacks": [handler]})
    assert rt.breakers.effective("flaky") == "open"  # two failures opened it
    with pytest.raises(BreakerOpen):
        async with rt.run(task="t", user="lc7"):
            await graph.ainvoke(start(), config={"callbacks": [handler]})
    errors = sample(
        rt, "agent_dependency_errors_total", dependency="flaky", error_type="unavailable"
    )
    assert errors == 2  # the refused third call never ran the tool
