"""The SDK from plain threads: a runtime on its own loop, ``with runtime.run_sync(...)``."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from prometheus_client import CollectorRegistry

from agentconsole.agent import (
    AgentKilled,
    AgentRuntime,
    BreakerConfig,
    BreakerOpen,
    DependencyError,
    TokenBudgetExceeded,
)
from agentconsole.agent.retry import RetryPolicy
from agentconsole.config import ModelPrice
from tests.agent.conftest import sample
from tests.fixtures.wait import killed_row

CALLS = "agent_dependency_calls_total"


@pytest.fixture
def sync_runtime(settings):
    """A runtime started with start_sync() (its loop in a daemon thread)."""
    settings.prices = {"gpt-x": ModelPrice(input_per_1k=0.01, output_per_1k=0.03)}
    rt = AgentRuntime(settings, registry=CollectorRegistry(), heartbeat_interval=0.2)
    rt.start_sync()
    yield rt
    rt.close_sync()


async def _applied(rt: AgentRuntime, version: int) -> None:
    """Wait (on the runtime's own loop) until it applied ``version``."""
    future = asyncio.run_coroutine_threadsafe(rt.wait_for_version(version, 30), rt.loop)
    assert await asyncio.wrap_future(future)


async def _until(check, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


async def test_kill_raises_in_the_worker_thread_and_is_acknowledged(plane, sync_runtime):
    started, outcome = threading.Event(), {}
    tool_calls = []

    def worker() -> None:
        try:
            with sync_runtime.run_sync(task="loop", user="u1", tenant="acme") as run:
                outcome["id"] = run.id
                started.set()
                while True:  # an agent looping on a tool, forever
                    run.step()
                    run.call("search", tool_calls.append, 1)
                    time.sleep(0.005)
        except AgentKilled as exc:
            outcome["killed"] = exc

    thread = threading.Thread(target=worker)
    thread.start()
    await asyncio.to_thread(started.wait, 30)
    t0 = time.time()
    await plane.kills.kill(agent=outcome["id"], reason="loops")
    await asyncio.to_thread(thread.join, 30)
    assert outcome["killed"].reason == "loops"
    record = await killed_row(plane, outcome["id"])
    assert record.status == "killed" and record.kill_ack_at >= t0 - 1
    report = await plane.kills.wait_for_acks([outcome["id"]], since=t0 - 60, timeout=30)
    assert not report.missing
    assert sample(sync_runtime, "agent_runs_total", outcome="killed") == 1
    calls = sample(sync_runtime, CALLS, dependency="search", outcome="success")
    assert calls == len(tool_calls) > 0


async def test_kill_of_a_thread_stuck_in_a_tool_lands_at_its_next_call(plane, sync_runtime):
    """A thread cannot be interrupted: it sees the kill when its blocking call returns."""
    release, started, seen = threading.Event(), threading.Event(), {}

    def worker() -> None:
        with sync_runtime.run_sync(task="stuck") as run:
            seen["id"] = run.id
            started.set()
            run.call("slow-tool", release.wait, 30)
            try:
                run.call("slow-tool", seen.setdefault, "second call", True)
            except AgentKilled:
                seen["refused"] = True
                raise

    def guarded_worker() -> None:
        try:
            worker()
        except AgentKilled:
            seen["killed"] = True

    thread = threading.Thread(target=guarded_worker)
    thread.start()
    await asyncio.to_thread(started.wait, 30)
    await plane.kills.kill(agent=seen["id"], reason="stuck")
    await _until(lambda: sync_runtime.snapshot.kill_for(seen["id"], "") is not None, "kill")
    release.set()
    await asyncio.to_thread(thread.join, 30)
    assert seen.get("refused") and seen.get("killed") and "second call" not in seen
    assert (await plane.agents.get(seen["id"])).status == "killed"


async def test_tripped_breaker_refuses_before_calling(plane, sync_runtime):
    await plane.breakers.trip("openai", for_seconds=60, reason="outage")
    await _applied(sync_runtime, await plane.version())
    calls = []

    def worker():
        with sync_runtime.run_sync(task="t") as run:
            run.call("openai", calls.append, "request")

    with pytest.raises(BreakerOpen):
        await asyncio.to_thread(worker)
    assert calls == []
    assert sample(sync_runtime, CALLS, dependency="openai", outcome="rejected") == 1


async def test_failures_feed_the_breaker_and_retries_sleep_in_the_thread(settings, plane):
    rt = AgentRuntime(
        settings,
        registry=CollectorRegistry(),
        breaker=BreakerConfig(window=4, min_calls=4),
        retry=RetryPolicy(max_attempts=2, base_delay=0.001),
    )
    rt.start_sync()
    attempts = []

    def flaky():
        attempts.append(threading.current_thread().name)
        raise DependencyError("unavailable", status=503)

    def worker():
        with rt.run_sync(task="t") as run:
            for _ in range(2):
                with pytest.raises(DependencyError):
                    run.call("llm", flaky)
            with pytest.raises(BreakerOpen):
                run.call("llm", flaky)

    try:
        await asyncio.to_thread(worker)
        assert len(attempts) == 4 and all(name != "agentconsole-runtime" for name in attempts)
        assert sample(rt, "agent_retries_total", dependency="llm") == 2
        await _wait_open(plane, "llm")  # the thread's window opened it for the fleet
    finally:
        await asyncio.to_thread(rt.close_sync)


async def _wait_open(plane, dep: str) -> None:
    for _ in range(500):
        views, _ = await plane.breakers.list()
        if any(v.dependency == dep and v.observed.state == "open" for v in views):
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{dep} never opened fleet-wide")


async def test_charge_budget_refusal_and_flags(plane, sync_runtime):
    await plane.flags.create("big-model", enabled=True, rollout=100)
    await plane.budgets.set("request_tokens", 1000)
    await _applied(sync_runtime, await plane.version())
    out = {}

    def worker():
        with sync_runtime.run_sync(task="t", user="u1", tenant="acme") as run:
            out["model"] = "gpt-x" if run.flag("big-model") else "small"
            out["cost"] = run.charge(model="gpt-x", input_tokens=600, output_tokens=300)
            with run.reserve(model="gpt-x", input_tokens=100, max_output_tokens=200) as usage:
                usage.set(100, 50)
            run.charge(model="gpt-x", input_tokens=900, output_tokens=200)

    with pytest.raises(TokenBudgetExceeded) as info:
        await asyncio.to_thread(worker)
    assert info.value.limit == "request_tokens"
    assert out == {"model": "gpt-x", "cost": pytest.approx(0.015)}
    usage = (await plane.budgets.usage())["u1"]
    assert usage["tokens"] == 900 + 150 and usage["reserved_tokens"] == 0


def test_runtime_as_a_context_manager_from_plain_code(settings):
    with AgentRuntime(settings, registry=CollectorRegistry()) as rt:
        with rt.run_sync(task="plain") as run:
            assert run.call("echo", str.upper, "ok") == "OK"
            assert run.step() == 1
        assert rt.active_runs == 0
    assert rt.closed


async def test_run_sync_on_the_runtimes_own_loop_is_refused(runtime):
    with pytest.raises(RuntimeError, match="plain threads"), runtime.run_sync(task="t"):
        pass


async def test_redis_down_a_sync_run_keeps_working_on_the_last_snapshot(
    settings, plane, redis_server
):
    from tests.fixtures.tcp_proxy import tcp_proxy

    with tcp_proxy(redis_server.port) as proxy:
        settings.redis.url = f"redis://127.0.0.1:{proxy.port}/0"
        settings.redis.connect_timeout = 0.3
        await plane.flags.create("sync-flag", enabled=True, rollout=100)
        await plane.breakers.trip("search", for_seconds=600, reason="kept while offline")
        rt = AgentRuntime(
            settings,
            registry=CollectorRegistry(),
            stale_limit=3600,
            resync_interval=0.2,
            report_interval=0.05,
        )
        await asyncio.to_thread(rt.start_sync)
        try:
            await _applied(rt, await plane.version())
            proxy.refuse()
            proxy.drop()
            await _until(lambda: not rt.connected, "the outage to be noticed")
            out = {}

            def worker():
                with rt.run_sync(task="offline", user="s9") as run:
                    out["flag"] = run.flag("sync-flag")
                    out["echo"] = run.call("echo", str.upper, "ok")
                    with pytest.raises(BreakerOpen):
                        run.call("search", str.upper, "never called")
                    run.charge(model="gpt-x", input_tokens=10, output_tokens=5)

            await asyncio.to_thread(worker)
            assert out == {"flag": True, "echo": "OK"}
            proxy.accept()
            await _until(lambda: rt.connected and not rt.budget.offline_pending, "flush")
            assert (await plane.budgets.usage())["s9"]["tokens"] == 15
        finally:
            await asyncio.to_thread(rt.close_sync)
