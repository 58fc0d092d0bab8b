import asyncio

import pytest

from agentconsole.agent import BreakerConfig, BreakerOpen, DependencyError
from agentconsole.agent.retry import NO_RETRY
from tests.agent.clock import FakeClock
from tests.agent.conftest import sample

CFG = BreakerConfig(window=10, min_calls=4, wait_open=30, half_open_trials=1, close_after=1)


class Dependency:
    def __init__(self) -> None:
        self.calls = 0
        self.fail = True

    async def __call__(self) -> str:
        self.calls += 1
        if self.fail:
            raise DependencyError("unavailable", status=503)
        return "ok"


async def _observed(plane, dep: str, state: str) -> None:
    for _ in range(100):
        views, _ = await plane.breakers.list()
        if any(v.dependency == dep and v.observed.state == state for v in views):
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"breaker {dep} never became {state} in Redis")


async def test_auto_trip_opens_fleet_wide_then_half_open_recovers(plane, make_runtime):
    clock = FakeClock()
    a = await make_runtime(breaker=CFG, clock=clock, retry=NO_RETRY)
    b = await make_runtime(breaker=CFG, clock=clock, retry=NO_RETRY)
    dep = Dependency()
    for _ in range(4):
        with pytest.raises(DependencyError):
            await a.call("llm", dep)
    with pytest.raises(BreakerOpen):
        await a.call("llm", dep)
    assert dep.calls == 4
    assert sample(a, "agent_dependency_calls_total", dependency="llm", outcome="rejected") == 1
    await _observed(plane, "llm", "open")
    # the other process learns it from the change event, never having failed itself
    for _ in range(100):
        if b.breakers.effective("llm") == "open":
            break
        await asyncio.sleep(0.02)
    with pytest.raises(BreakerOpen):
        await b.call("llm", dep)
    assert dep.calls == 4

    # after wait_open: one fleet-wide trial; a concurrent second caller is refused
    clock.advance(31)
    dep.fail = False
    gate = asyncio.Event()

    async def slow_ok() -> str:
        await gate.wait()
        return await dep()

    trial = asyncio.create_task(a.call("llm", slow_ok))
    await asyncio.sleep(0.05)
    assert a.breakers.get("llm").state == "half_open"
    with pytest.raises(BreakerOpen, match="trial"):
        await b.call("llm", dep)
    gate.set()
    assert await trial == "ok"
    await _observed(plane, "llm", "closed")
    for _ in range(100):
        if b.breakers.effective("llm") == "closed":
            break
        await asyncio.sleep(0.02)
    assert await b.call("llm", dep) == "ok"


async def test_failed_trial_reopens(plane, make_runtime):
    clock = FakeClock()
    rt = await make_runtime(breaker=CFG, clock=clock, retry=NO_RETRY)
    dep = Dependency()
    for _ in range(4):
        with pytest.raises(DependencyError):
            await rt.call("llm", dep)
    await _observed(plane, "llm", "open")
    clock.advance(31)
    with pytest.raises(DependencyError):
        await rt.call("llm", dep)  # the trial, failing
    assert rt.breakers.get("llm").state == "open"
    with pytest.raises(BreakerOpen):
        await rt.call("llm", dep)


async def test_operator_modes_win_over_automatic_state(plane, make_runtime):
    clock = FakeClock()
    rt = await make_runtime(breaker=CFG, clock=clock, retry=NO_RETRY)
    dep = Dependency()
    dep.fail = False
    await plane.breakers.trip("llm", reason="provider incident")
    await rt.wait_for_version(await plane.version())
    with pytest.raises(BreakerOpen, match="forced open by alice"):
        await rt.call("llm", dep)
    assert dep.calls == 0
    assert sample(rt, "agent_breaker_state", dependency="llm") == 2

    # forced closed: failures do not open it
    await plane.breakers.force_close("llm")
    await rt.wait_for_version(await plane.version())
    dep.fail = True
    for _ in range(8):
        with pytest.raises(DependencyError):
            await rt.call("llm", dep)
    assert rt.breakers.effective("llm") == "closed"

    # back to auto: the window decides again
    await plane.breakers.reset("llm")
    await rt.wait_for_version(await plane.version())
    for _ in range(4):
        with pytest.raises((DependencyError, BreakerOpen)):
            await rt.call("llm", dep)
    with pytest.raises(BreakerOpen):
        await rt.call("llm", dep)


async def test_forced_open_expires_by_itself(plane, make_runtime):
    import time

    clock = FakeClock(time.time())
    rt = await make_runtime(clock=clock, retry=NO_RETRY)
    dep = Dependency()
    dep.fail = False
    await plane.breakers.trip("search", for_seconds=60, reason="maintenance")
    await rt.wait_for_version(await plane.version())
    with pytest.raises(BreakerOpen):
        await rt.call("search", dep)
    clock.advance(61)
    assert await rt.call("search", dep) == "ok"


async def test_slow_calls_open_the_breaker(make_runtime):
    cfg = BreakerConfig(window=5, min_calls=5, slow_call_seconds=0.0, slow_threshold=0.8)
    rt = await make_runtime(breaker=cfg, retry=NO_RETRY)

    async def fine() -> int:
        return 1

    for _ in range(5):
        await rt.call("vector-db", fine)
    with pytest.raises(BreakerOpen):
        await rt.call("vector-db", fine)
