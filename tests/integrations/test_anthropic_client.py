"""The official Anthropic client, guarded, on an httpx2.MockTransport (its real code runs)."""

from __future__ import annotations

import asyncio
import re

import pytest

from agentconsole.agent import AgentKilled, BreakerOpen, TokenBudgetExceeded
from agentconsole.integrations import anthropic_client
from tests.agent.conftest import sample
from tests.fixtures.tcp_proxy import tcp_proxy
from tests.integrations.conftest import FakeProvider, booked_tokens, eventually

anthropic = pytest.importorskip("anthropic")
httpx2 = pytest.importorskip("httpx2")


def message(body, status=200):
    return status, {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": body.get("model", "claude-small"),
        "content": [{"type": "text", "text": "ok"}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 13, "output_tokens": 5, "cache_read_input_tokens": 2},
    }


def overloaded(body):
    return 503, {"type": "error", "error": {"type": "overloaded_error", "message": "busy"}}


def client_for(provider: FakeProvider, runtime, max_retries: int = 0):
    transport = httpx2.MockTransport(provider.handler(httpx2))
    raw = anthropic.AsyncAnthropic(
        api_key="test", max_retries=max_retries, http_client=httpx2.AsyncClient(transport=transport)
    )
    return anthropic_client.guard(raw, runtime)


async def ask(client, model="claude-small", max_tokens=200):
    return await client.messages.create(
        model=model, max_tokens=max_tokens, messages=[{"role": "user", "content": "hi"}]
    )


async def test_usage_booked_equals_what_the_response_reported(plane, runtime):
    provider = FakeProvider(message)
    client = client_for(provider, runtime)
    async with runtime.run(task="t", user="a1", tenant="acme") as run:
        for _ in range(2):
            assert (await ask(client)).content[0].text == "ok"
    assert run.steps == 2 and (run.record.tokens_in, run.record.tokens_out) == (30, 10)
    assert (await booked_tokens(plane, "a1", 40))["tokens"] == 40
    assert sample(runtime, "agent_tokens_total", type="output", model="claude-small", tenant="acme")


async def test_tripped_breaker_and_budgets_refuse_before_the_transport(plane, runtime):
    provider = FakeProvider(message)
    client = client_for(provider, runtime)
    with pytest.raises(TokenBudgetExceeded) as info:
        async with runtime.run(task="t", user="a2"):
            await ask(client, max_tokens=8000)  # past request_tokens (4000) before sending
    assert info.value.limit == "request_tokens"
    await plane.budgets.set("user_daily_tokens", 20)
    await runtime.wait_for_version(await plane.version())
    with pytest.raises(TokenBudgetExceeded) as info:
        async with runtime.run(task="t", user="a3") as run:
            await ask(client)  # 20 tokens: the day is used up
            await eventually(lambda: run.over_budget, "the booking's verdict")
            await ask(client)
    assert info.value.limit == "user_daily_tokens" and len(provider.requests) == 1
    await plane.breakers.trip("anthropic", for_seconds=60, reason="outage")
    await runtime.wait_for_version(await plane.version())
    with pytest.raises(BreakerOpen):
        async with runtime.run(task="t", user="a4"):
            await ask(client)
    assert len(provider.requests) == 1


async def test_agent_looping_on_a_tool_is_killed_from_the_cli(plane, runtime, acli):
    provider = FakeProvider(message)
    client = client_for(provider, runtime)
    await plane.budgets.set("run_max_steps", 100_000)  # a loop that only a kill ends
    await runtime.wait_for_version(await plane.version())
    started, ids = asyncio.Event(), []

    async def agent():
        async with runtime.run(task="loop", user="a5", tenant="acme") as run:
            ids.append(run.id)
            while True:
                await ask(client)
                started.set()
                await asyncio.sleep(0.005)  # the tool

    task = asyncio.create_task(agent())
    await asyncio.wait_for(started.wait(), 30)
    result = await acli("agents", "kill", "--tenant", "acme", "--yes", "--reason", "loops")
    assert re.fullmatch(
        r"killed 1 agent, 1 acknowledged in Redis within \d+ ms of the kill\n", result.out
    ), result.err
    with pytest.raises(AgentKilled):
        await asyncio.wait_for(task, 30)


async def test_flag_picks_the_model_and_redis_down_keeps_working(
    settings, plane, make_runtime, redis_server
):
    with tcp_proxy(redis_server.port) as proxy:
        settings.redis.url = f"redis://127.0.0.1:{proxy.port}/0"
        settings.redis.connect_timeout = 0.3
        rt = await make_runtime(
            settings=settings, stale_limit=3600, report_interval=0.05, resync_interval=0.2
        )
        provider = FakeProvider(message)
        client = client_for(provider, rt)
        await plane.flags.create("claude-big", enabled=True, rollout=100)
        await rt.wait_for_version(await plane.version())
        async with rt.run(task="t", user="a6") as run:
            await ask(client, model="claude-big" if run.flag("claude-big") else "claude-small")
            proxy.refuse()
            proxy.drop()
            await eventually(lambda: not rt.connected, "the outage to be noticed")
            await ask(client, model="claude-big" if run.flag("claude-big") else "claude-small")
            proxy.accept()
            await eventually(lambda: rt.connected and not rt.budget.offline_pending, "flush")
        assert [r["model"] for r in provider.requests] == ["claude-big", "claude-big"]
        assert (await booked_tokens(plane, "a6", 40))["tokens"] == 40


async def test_the_client_retries_and_the_breaker_counts_the_request_once(runtime):
    provider = FakeProvider(overloaded)
    client = client_for(provider, runtime, max_retries=2)
    with pytest.raises(anthropic.APIStatusError) as info:
        async with runtime.run(task="t"):
            await ask(client)
    assert info.value.status_code == 503 and len(provider.requests) == 3
    assert sample(runtime, "agent_dependency_calls_total", dependency="anthropic", outcome="error")
    assert (
        sample(
            runtime,
            "agent_dependency_errors_total",
            dependency="anthropic",
            error_type="unavailable",
        )
        == 1
    )
    assert sample(runtime, "agent_retries_total", dependency="anthropic") == 0


async def test_sync_client_inside_run_sync_books_and_obeys(settings, plane):
    import threading

    from prometheus_client import CollectorRegistry

    from agentconsole.agent import AgentRuntime

    provider = FakeProvider(message)
    raw = anthropic.Anthropic(
        api_key="t",
        max_retries=0,
        http_client=httpx2.Client(transport=httpx2.MockTransport(provider.handler(httpx2))),
    )
    rt = AgentRuntime(settings, registry=CollectorRegistry())
    await asyncio.to_thread(rt.start_sync)
    client = anthropic_client.guard(raw, rt)
    out = {}

    def worker():
        with rt.run_sync(task="sync claude", user="a7") as run:
            reply = client.messages.create(
                model="claude-small", max_tokens=100, messages=[{"role": "user", "content": "x"}]
            )
            out["text"], out["run"] = reply.content[0].text, run

    try:
        thread = threading.Thread(target=worker)
        thread.start()
        await asyncio.to_thread(thread.join, 30)
        assert out["text"] == "ok" and out["run"].steps == 1
        assert (await booked_tokens(plane, "a7", 20))["tokens"] == 20
        await plane.breakers.trip("anthropic", for_seconds=60, reason="outage")
        future = asyncio.run_coroutine_threadsafe(
            rt.wait_for_version(await plane.version(), 30), rt.loop
        )
        assert await asyncio.wrap_future(future)
        with pytest.raises(BreakerOpen):
            await asyncio.to_thread(worker)
        assert len(provider.requests) == 1
    finally:
        await asyncio.to_thread(rt.close_sync)
