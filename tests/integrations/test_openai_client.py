"""The official OpenAI client, guarded, on an httpx.MockTransport (the client's real code runs)."""

from __future__ import annotations

import asyncio
import re
import threading
import time

import httpx
import pytest

from agentconsole.agent import AgentKilled, BreakerOpen, TokenBudgetExceeded
from agentconsole.integrations import openai_client
from tests.agent.conftest import sample
from tests.fixtures.tcp_proxy import tcp_proxy
from tests.fixtures.wait import killed_row
from tests.integrations.conftest import FakeProvider, booked_tokens, eventually

openai = pytest.importorskip("openai")

USAGE = {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}


def completion(body, status=200):
    return status, {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 0,
        "model": body.get("model", "gpt-4o-mini"),
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "ok"},
                "finish_reason": "stop",
            }
        ],
        "usage": USAGE,
    }


def failing(body):
    return 503, {"error": {"message": "overloaded", "type": "server_error"}}


def async_client(provider: FakeProvider, runtime, max_retries: int = 0):
    raw = openai.AsyncOpenAI(
        api_key="test",
        max_retries=max_retries,
        http_client=httpx.AsyncClient(transport=httpx.MockTransport(provider.handler(httpx))),
    )
    return openai_client.guard(raw, runtime)


async def ask(client, model="gpt-4o-mini", **kw):
    return await client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "hi"}], **kw
    )


async def test_usage_booked_equals_what_the_response_reported(plane, runtime):
    provider = FakeProvider(completion)
    client = async_client(provider, runtime)
    async with runtime.run(task="t", user="u1", tenant="acme") as run:
        for _ in range(3):
            reply = await ask(client)
            assert reply.choices[0].message.content == "ok"
    assert len(provider.requests) == 3 and run.steps == 3
    usage = await booked_tokens(plane, "u1", 54)
    assert usage["tokens"] == 54 and not usage.get("reserved_tokens")
    record = await plane.agents.get(run.id)
    assert (record.tokens_in, record.tokens_out, record.model) == (33, 21, "gpt-4o-mini")
    labels = {"model": "gpt-4o-mini", "tenant": "acme"}
    assert sample(runtime, "agent_tokens_total", type="input", **labels) == 33
    calls = sample(runtime, "agent_dependency_calls_total", dependency="openai", outcome="success")
    assert calls == 3


async def test_tripped_breaker_refuses_before_the_transport(plane, runtime):
    provider = FakeProvider(completion)
    client = async_client(provider, runtime)
    await plane.breakers.trip("openai", for_seconds=60, reason="provider outage")
    await runtime.wait_for_version(await plane.version())
    with pytest.raises(BreakerOpen):
        async with runtime.run(task="t"):
            await ask(client)
    assert provider.requests == []


async def test_budget_refusals_before_the_transport(plane, runtime):
    provider = FakeProvider(completion)
    client = async_client(provider, runtime)
    await plane.budgets.set("user_daily_tokens", 30)
    await runtime.wait_for_version(await plane.version())
    with pytest.raises(TokenBudgetExceeded) as info:
        async with runtime.run(task="t", user="u2") as run:
            await ask(client)  # 18 tokens
            await ask(client)  # 36: the day's limit is now passed
            await eventually(lambda: run.over_budget, "the booking's verdict")
            await ask(client)
    assert info.value.limit == "user_daily_tokens" and run.outcome == "budget_exceeded"
    assert len(provider.requests) == 2
    # the per-request limit is checked against the request's own cap, before sending it
    with pytest.raises(TokenBudgetExceeded) as info:
        async with runtime.run(task="t", user="u3"):
            await ask(client, max_tokens=10_000)
    assert info.value.limit == "request_tokens" and len(provider.requests) == 2


async def test_agent_looping_on_a_tool_is_killed_from_the_cli(plane, runtime, acli):
    provider = FakeProvider(completion)
    client = async_client(provider, runtime)
    started = asyncio.Event()
    ids = []

    async def agent():
        async with runtime.run(task="loop", user="u4", tenant="acme") as run:
            ids.append(run.id)
            while True:
                await ask(client)
                started.set()
                await asyncio.sleep(0.005)  # the tool

    await plane.budgets.set("run_max_steps", 100_000)  # a loop that only a kill ends
    await runtime.wait_for_version(await plane.version())
    task = asyncio.create_task(agent())
    await asyncio.wait_for(started.wait(), 30)
    result = await acli("agents", "kill", ids[0], "--yes", "--reason", "loops")
    assert result.code == 0, result.err
    assert re.fullmatch(
        r"killed 1 agent, 1 acknowledged in Redis within \d+ ms of the kill\n", result.out
    ), result.out
    with pytest.raises(AgentKilled):
        await asyncio.wait_for(task, 30)
    await killed_row(plane, ids[0])


async def test_flag_picks_the_model(plane, runtime):
    provider = FakeProvider(completion)
    client = async_client(provider, runtime)
    await plane.flags.create("big-model", enabled=True, rollout=100)
    await runtime.wait_for_version(await plane.version())
    async with runtime.run(task="t", user="u5") as run:
        await ask(client, model="gpt-4o" if run.flag("big-model") else "gpt-4o-mini")
    await plane.flags.disable("big-model")
    await runtime.wait_for_version(await plane.version())
    async with runtime.run(task="t", user="u5") as run:
        await ask(client, model="gpt-4o" if run.flag("big-model") else "gpt-4o-mini")
    assert [r["model"] for r in provider.requests] == ["gpt-4o", "gpt-4o-mini"]


async def test_the_client_retries_and_the_breaker_counts_the_request_once(runtime):
    """Who retries what: the client's max_retries resend; the guard sees one failed request."""
    provider = FakeProvider(failing)
    client = async_client(provider, runtime, max_retries=2)
    with pytest.raises(openai.InternalServerError):
        async with runtime.run(task="t"):
            await ask(client)
    assert len(provider.requests) == 3  # the client's own three attempts
    assert (
        sample(runtime, "agent_dependency_calls_total", dependency="openai", outcome="error") == 1
    )
    assert sample(runtime, "agent_retries_total", dependency="openai") == 0


async def test_streamed_usage_is_booked_once_at_the_end(plane, runtime):
    def stream(body):
        return 200, None

    chunks = [
        {"choices": [{"index": 0, "delta": {"content": "o"}, "finish_reason": None}]},
        {"choices": [{"index": 0, "delta": {"content": "k"}, "finish_reason": "stop"}]},
        {"choices": [], "usage": USAGE},
    ]
    payload = (
        "".join(
            "data: "
            + httpx.Response(
                200,
                json={
                    "id": "c",
                    "object": "chat.completion.chunk",
                    "created": 0,
                    "model": "gpt-4o-mini",
                    **chunk,
                },
            ).text
            + "\n\n"
            for chunk in chunks
        )
        + "data: [DONE]\n\n"
    )

    def handle(request):
        return httpx.Response(200, text=payload, headers={"content-type": "text/event-stream"})

    raw = openai.AsyncOpenAI(
        api_key="t",
        max_retries=0,
        http_client=httpx.AsyncClient(transport=httpx.MockTransport(handle)),
    )
    client = openai_client.guard(raw, runtime)
    async with runtime.run(task="t", user="u6") as run:
        stream = await client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "hi"}],
            stream=True,
            stream_options={"include_usage": True},
        )
        text = "".join([c.choices[0].delta.content async for c in stream if c.choices])
    assert text == "ok"
    assert (run.record.tokens_in, run.record.tokens_out) == (11, 7)
    assert (await booked_tokens(plane, "u6", 18))["tokens"] == 18


async def test_redis_down_keeps_working_on_the_last_snapshot(
    settings, plane, make_runtime, redis_server
):
    with tcp_proxy(redis_server.port) as proxy:
        settings.redis.url = f"redis://127.0.0.1:{proxy.port}/0"
        settings.redis.connect_timeout = 0.3
        rt = await make_runtime(
            settings=settings, stale_limit=3600, report_interval=0.05, resync_interval=0.2
        )
        provider = FakeProvider(completion)
        client = async_client(provider, rt)
        await plane.flags.create("big-model", enabled=True, rollout=100)
        await rt.wait_for_version(await plane.version())
        async with rt.run(task="t", user="u7") as run:
            proxy.refuse()
            proxy.drop()
            await eventually(lambda: not rt.connected, "the outage to be noticed")
            for _ in range(2):
                await ask(client, model="gpt-4o" if run.flag("big-model") else "gpt-4o-mini")
            await eventually(
                lambda: not run.pending_bookings and rt.budget.offline_pending, "usage kept offline"
            )
            proxy.accept()
            await eventually(lambda: rt.connected and not rt.budget.offline_pending, "flush")
        assert [r["model"] for r in provider.requests] == ["gpt-4o", "gpt-4o"]
        assert (await booked_tokens(plane, "u7", 36))["tokens"] == 36


async def test_sync_client_in_a_thread_is_killed_at_its_next_call(settings, plane):
    """OpenAI (sync) inside runtime.run_sync: a kill raises AgentKilled at the next request."""
    from prometheus_client import CollectorRegistry

    from agentconsole.agent import AgentRuntime

    provider = FakeProvider(completion)
    raw = openai.OpenAI(
        api_key="t",
        max_retries=0,
        http_client=httpx.Client(transport=httpx.MockTransport(provider.handler(httpx))),
    )
    await plane.budgets.set("run_max_steps", 100_000)  # a loop that only a kill ends
    rt = AgentRuntime(settings, registry=CollectorRegistry())
    await asyncio.to_thread(rt.start_sync)
    client = openai_client.guard(raw, rt)
    seen, started = {}, threading.Event()

    def worker():
        try:
            with rt.run_sync(task="sync loop", user="u8") as run:
                seen["id"] = run.id
                while True:
                    client.chat.completions.create(
                        model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
                    )
                    started.set()
                    time.sleep(0.005)  # the tool
        except AgentKilled as exc:
            seen["killed"] = exc

    thread = threading.Thread(target=worker)
    thread.start()
    try:
        assert await asyncio.to_thread(started.wait, 30)
        await plane.kills.kill(agent=seen["id"], reason="sync loop")
        await asyncio.to_thread(thread.join, 30)
        assert seen["killed"].reason == "sync loop"
        await killed_row(plane, seen["id"])
        assert sample(rt, "agent_runs_total", outcome="killed") == 1
    finally:
        await asyncio.to_thread(rt.close_sync)
