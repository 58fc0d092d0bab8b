import asyncio
import time

import pytest

from agentconsole.agent import AgentKilled
from tests.agent.conftest import sample
from tests.fixtures.wait import killed_row


async def _forever() -> None:
    await asyncio.Event().wait()


async def _start_agent(runtime, started: asyncio.Event, **kw):
    async with runtime.run(task="t", **kw) as run:
        started.set()
        await run.call("llm", _forever)


async def test_kill_in_the_middle_of_an_llm_call(plane, runtime):
    started = asyncio.Event()
    task = asyncio.create_task(_start_agent(runtime, started, user="u1", tenant="acme"))
    await asyncio.wait_for(started.wait(), 30)
    (run,) = runtime._runs.values()
    await plane.kills.kill(agent=run.id, reason="runaway spend")
    t0 = time.monotonic()
    with pytest.raises(AgentKilled) as info:  # the call never ends by itself: only the kill
        await asyncio.wait_for(task, 30)
    assert info.value.reason == "runaway spend" and info.value.requester == "alice"
    record = await killed_row(plane, run.id)
    assert record.status == "killed" and record.kill_ack_at > 0
    assert record.killed_by == "alice"
    report = await plane.kills.wait_for_acks([run.id], since=t0 - 60, timeout=30)
    assert not report.missing
    assert sample(runtime, "agent_runs_total", outcome="killed") == 1
    assert sample(runtime, "agent_kills_total", scope="agent") == 1


async def test_the_kill_carries_no_cancellation_along(plane, runtime):
    """The stop a killed call, guarded block or charge raises is the kill alone: the task's
    cancellation is not its context, so its frames are not kept alive with every run a
    kill parks on its acknowledgement, and a traceback shows only the kill."""
    started = [asyncio.Event() for _ in range(2)]

    async def in_a_block() -> None:
        async with runtime.run(task="t", tenant="acme") as run, run.guard("tool"):
            started[1].set()
            await _forever()

    tasks = [
        asyncio.create_task(_start_agent(runtime, started[0], tenant="acme")),
        asyncio.create_task(in_a_block()),
    ]
    for event in started:
        await asyncio.wait_for(event.wait(), 30)
    await plane.kills.kill(tenant="acme", reason="context")
    for task in tasks:
        with pytest.raises(AgentKilled) as info:
            await asyncio.wait_for(task, 30)
        assert info.value.__context__ is None and info.value.__cause__ is None


async def test_a_kills_runs_are_counted_after_they_are_out_and_one_failure_loses_none(
    plane, runtime
):
    """A kill's runs are counted and logged in one callback once they are out; a report
    that fails goes to the loop's exception handler and the others are still counted."""
    started = [asyncio.Event() for _ in range(3)]
    tasks = [
        asyncio.create_task(_start_agent(runtime, e, tenant="acme", agent_id=f"c{i}"))
        for i, e in enumerate(started)
    ]
    for event in started:
        await asyncio.wait_for(event.wait(), 30)
    broken = runtime._runs["c1"]

    def fails(ending: BaseException) -> None:
        raise RuntimeError("a metrics backend gone wrong")

    broken._report_end = fails  # type: ignore[method-assign]
    caught: list[dict] = []
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda loop, ctx: caught.append(ctx))
    try:
        await plane.kills.kill(tenant="acme", reason="counted")
        for task in tasks:
            with pytest.raises(AgentKilled):
                await asyncio.wait_for(task, 30)
        await asyncio.sleep(0)  # the one callback runs after the last run is out
    finally:
        loop.set_exception_handler(None)
    assert sample(runtime, "agent_runs_total", outcome="killed") == 2
    assert sample(runtime, "agent_kills_total", scope="tenant") == 2
    assert [str(c["exception"]) for c in caught] == ["a metrics backend gone wrong"]
    assert caught[0]["message"] == "agentconsole: a run's end was not reported"


async def test_kill_by_tenant_spares_other_tenants(plane, runtime):
    started = [asyncio.Event() for _ in range(3)]
    tasks = [
        asyncio.create_task(_start_agent(runtime, ev, tenant=tenant))
        for ev, tenant in zip(started, ["acme", "acme", "other"], strict=True)
    ]
    await asyncio.wait_for(asyncio.gather(*(e.wait() for e in started)), 30)
    await plane.kills.kill(tenant="acme", reason="abuse")
    results = await asyncio.wait_for(asyncio.gather(tasks[0], tasks[1], return_exceptions=True), 30)
    assert all(isinstance(r, AgentKilled) for r in results)
    assert not tasks[2].done()
    assert runtime.active_runs == 1
    tasks[2].cancel()
    await asyncio.gather(tasks[2], return_exceptions=True)


async def test_global_stop_and_kill_in_force_at_start(plane, runtime):
    started = [asyncio.Event() for _ in range(5)]
    tasks = [asyncio.create_task(_start_agent(runtime, ev)) for ev in started]
    await asyncio.wait_for(asyncio.gather(*(e.wait() for e in started)), 30)
    out = await plane.kills.kill(everything=True, reason="stop the fleet")
    results = await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 30)
    assert all(isinstance(r, AgentKilled) for r in results)
    report = await plane.kills.wait_for_acks(out.agents, since=time.time() - 60, timeout=30)
    assert len(report.acknowledged) == 5 and not report.missing
    # a run started while the stop is in force is killed at once, and shows as killed
    late = runtime.run(task="late")
    with pytest.raises(AgentKilled):
        async with late:
            pytest.fail("a stopped fleet must not start work")
    assert (await plane.agents.get(late.id)).status == "killed"
    # lifting the stop lets new runs proceed
    await plane.kills.lift("all")
    await runtime.wait_for_version(await plane.version())
    async with runtime.run(task="after") as run:
        assert run.steps == 0


async def test_task_that_ignores_cancellation_is_written_off(plane, make_runtime):
    runtime = await make_runtime(kill_deadline=0.3)
    started = asyncio.Event()
    swallowed = 0
    attempts_after_kill: list[str] = []

    async def stubborn():
        nonlocal swallowed
        async with runtime.run(task="stubborn") as run:
            started.set()
            while True:
                try:
                    await asyncio.sleep(0.05)
                except asyncio.CancelledError:
                    swallowed += 1
                    if swallowed >= 3:
                        break  # eventually gives up, long after the deadline
                    try:
                        await run.call("llm", asyncio.sleep, 0)
                    except AgentKilled as exc:
                        attempts_after_kill.append(type(exc).__name__)

    task = asyncio.create_task(stubborn())
    await asyncio.wait_for(started.wait(), 30)
    (run,) = runtime._runs.values()
    await plane.kills.kill(agent=run.id, reason="stuck")
    with pytest.raises(AgentKilled):
        await asyncio.wait_for(task, 30)
    assert run.abandoned and swallowed == 3
    assert attempts_after_kill  # guarded calls were refused while it lingered
    record = await killed_row(plane, run.id)
    assert record.status == "killed" and record.kill_ack_at > 0
