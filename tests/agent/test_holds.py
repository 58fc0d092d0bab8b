"""Drain and pause, as the SDK obeys them, against the test Redis."""

import asyncio
import threading

import pytest

from agentconsole.agent import AgentKilled, Drained, NewRunsRefused
from agentconsole.control import operations as ops
from tests.agent.conftest import sample


async def _applied(plane, runtime) -> None:
    assert await runtime.wait_for_version(await plane.version(), timeout=30)


async def _status(plane, agent_id: str, wanted: str) -> None:
    for _ in range(1500):
        record = await plane.agents.get(agent_id)
        if record is not None and record.status == wanted:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{agent_id} never reported {wanted} (last: {record and record.status})")


async def test_drain_refuses_new_runs_and_lets_running_ones_finish(plane, runtime):
    go_on, started = asyncio.Event(), asyncio.Event()
    calls = []

    async def work():
        calls.append(1)
        await go_on.wait()
        return "done"

    async def agent():
        async with runtime.run(task="t", tenant="acme") as run:
            started.set()
            return await run.call("llm", work), run.id

    task = asyncio.create_task(agent())
    await asyncio.wait_for(started.wait(), 30)
    out = await plane.holds.hold("drain", tenant="acme", reason="noisy tenant")
    assert out.created and out.target == "tenant:acme" and len(out.agents) == 1
    await _applied(plane, runtime)
    await _status(plane, out.agents[0], "draining")

    with pytest.raises(Drained) as info:  # a new run of the tenant: refused, not started
        async with runtime.run(task="t", tenant="acme"):
            pass
    assert isinstance(info.value, NewRunsRefused)
    assert info.value.target == "tenant:acme" and info.value.reason == "noisy tenant"
    assert "new runs refused" in str(info.value)
    async with runtime.run(task="t", tenant="globex"):  # another tenant runs on
        pass
    assert sample(runtime, "agent_runs_refused_total", reason="drain") == 1

    go_on.set()
    result, agent_id = await asyncio.wait_for(task, 30)
    assert result == "done"
    assert (await plane.agents.get(agent_id)).status == "finished"

    await plane.holds.lift("drain", "tenant:acme", reason="calm again")
    await _applied(plane, runtime)
    async with runtime.run(task="t", tenant="acme") as run:
        assert run.record.status == "running"


async def test_pause_holds_at_the_next_call_and_resume_continues(plane, runtime):
    first, go = asyncio.Event(), asyncio.Event()
    done = []

    async def step(n):
        done.append(n)
        return n

    async def agent():
        async with runtime.run(task="t", tenant="acme") as run:
            await run.call("llm", step, 1)
            first.set()
            await go.wait()
            await run.call("llm", step, 2)  # held here while paused
            return run.id

    task = asyncio.create_task(agent())
    await asyncio.wait_for(first.wait(), 30)
    (run,) = runtime._runs.values()
    out = await plane.holds.hold("pause", tenant="acme", reason="look first")
    assert out.agents == [run.id]
    await _applied(plane, runtime)
    await _status(plane, run.id, "paused")
    go.set()
    await asyncio.sleep(0.2)
    assert done == [1] and not task.done()  # holding at its next guarded call

    await plane.holds.lift("pause", "tenant:acme", reason="fine")
    await _applied(plane, runtime)
    assert await asyncio.wait_for(task, 30) == run.id
    assert done == [1, 2]
    assert (await plane.agents.get(run.id)).status == "finished"


async def test_kill_stops_a_paused_run_and_is_acknowledged(plane, runtime):
    started = asyncio.Event()

    async def agent():
        async with runtime.run(task="t", tenant="acme") as run:
            started.set()
            await plane.holds.hold("pause", agent=run.id, reason="hold it")
            await _applied(plane, runtime)
            await run.checkpoint()  # waits: paused

    task = asyncio.create_task(agent())
    await asyncio.wait_for(started.wait(), 30)
    (run,) = runtime._runs.values()
    await _status(plane, run.id, "paused")
    since = asyncio.get_running_loop().time()
    kill = await plane.kills.kill(agent=run.id, reason="enough")
    with pytest.raises(AgentKilled):
        await asyncio.wait_for(task, 30)
    record = await plane.agents.get(run.id)
    assert record.status == "killed" and record.kill_id == kill.kill["id"]
    report = await plane.kills.wait_for_acks([run.id], since=since, timeout=30)
    assert not report.missing
    assert sample(runtime, "agent_controls_engaged", kind="pause") == 1


async def test_a_run_started_while_paused_holds_at_its_first_call(plane, runtime):
    await plane.holds.hold("pause", everything=True, reason="freeze")
    await _applied(plane, runtime)
    calls = []

    async def work():
        calls.append(1)

    async def agent():
        async with runtime.run(task="t") as run:
            assert run.record.status == "paused"
            await run.call("llm", work)

    task = asyncio.create_task(agent())
    await asyncio.sleep(0.3)
    assert not calls and not task.done()
    await plane.holds.lift("pause", "all")
    await asyncio.wait_for(task, 30)
    assert calls == [1]


async def test_sync_runs_obey_drain_and_pause(plane, runtime):
    loop = asyncio.get_running_loop()
    await plane.holds.hold("drain", tenant="acme")
    await _applied(plane, runtime)

    def refused():
        with runtime.run_sync(task="t", tenant="acme"):
            pass

    with pytest.raises(Drained):
        await loop.run_in_executor(None, refused)

    entered, steps = threading.Event(), []

    def worker():
        with runtime.run_sync(task="t", tenant="globex") as run:
            entered.set()
            while len(steps) < 3:
                run.step()  # a paused thread blocks here
                steps.append(run.steps)

    await plane.holds.hold("pause", tenant="globex")
    await _applied(plane, runtime)
    thread = loop.run_in_executor(None, worker)
    await loop.run_in_executor(None, entered.wait, 30)
    await asyncio.sleep(0.3)
    assert steps == []  # blocked at its first step
    await plane.holds.lift("pause", "tenant:globex")
    await asyncio.wait_for(thread, 30)
    assert steps == [1, 2, 3]


async def test_kill_wakes_a_paused_sync_run_and_is_acknowledged(plane, runtime):
    from agentconsole.agent import AgentKilled

    loop = asyncio.get_running_loop()
    entered = threading.Event()
    ids: list[str] = []

    def worker():
        with runtime.run_sync(task="t", tenant="acme") as run:
            ids.append(run.id)
            entered.set()
            while True:
                run.step()  # blocks while paused; raises once killed

    await plane.holds.hold("pause", tenant="acme")
    await _applied(plane, runtime)
    thread = loop.run_in_executor(None, worker)
    await loop.run_in_executor(None, entered.wait, 30)
    await _status(plane, ids[0], "paused")
    await plane.kills.kill(tenant="acme", reason="stop it")
    with pytest.raises(AgentKilled):
        await asyncio.wait_for(thread, 30)
    await _status(plane, ids[0], "killed")


async def test_an_unreadable_drain_still_drains_its_target(plane, runtime):
    """Fail closed, like a kill: a corrupt document in the holds hash still refuses runs."""
    await plane.redis.hset(plane.keys.holds, "drain:tenant:acme", "{not json")
    await runtime.sync()
    with pytest.raises(Drained, match="unreadable hold"):
        async with runtime.run(task="t", tenant="acme"):
            pass
    async with runtime.run(task="t", tenant="globex"):
        pass
    holds, problems = await plane.holds.list()
    assert set(holds) == {"drain:tenant:acme"} and problems  # named as unreadable
    # lifted by its row, like a readable one: the agents run again
    call = ops.parse_line("undrain tenant acme")
    await call.op.run(plane, call)
    await _applied(plane, runtime)
    async with runtime.run(task="t", tenant="acme") as run:
        await run.call("llm", _answer)


async def _answer():
    return "ok"


async def test_a_run_stopped_by_an_unreadable_kill_runs_again_after_the_lift(plane, runtime):
    """A kill whose document does not parse stops its target (fail closed) and is lifted
    by the kill lift row; the agents stop obeying it."""
    await plane.redis.hset(plane.keys.kills, "tenant:acme", b"\xff not a kill")
    await runtime.sync()
    with pytest.raises(AgentKilled):
        async with runtime.run(task="t", tenant="acme") as run:
            await run.call("llm", _answer)
    call = ops.parse_line("kill lift tenant acme")
    call.reason = "corrupt entry"
    assert "lifted" in (await call.op.run(plane, call)).text
    await _applied(plane, runtime)
    async with runtime.run(task="t", tenant="acme") as run:
        assert await run.call("llm", _answer) == "ok"
    [entry] = await plane.audit.tail(5)
    assert entry.action == "kill.lift" and entry.before["unreadable"] == "not valid UTF-8"


async def test_kill_wakes_a_sync_run_held_in_a_reservation(plane, runtime):
    """The wait of a sync run's reserve runs on the loop, outside the run's task: the kill
    must wake it too, not only cancel the task."""
    from agentconsole.agent import AgentKilled

    loop = asyncio.get_running_loop()
    entered = threading.Event()
    ids: list[str] = []

    def worker():
        with runtime.run_sync(task="t", tenant="acme") as run:
            ids.append(run.id)
            entered.set()
            with run.reserve(model="gpt-4o", input_tokens=10, max_output_tokens=10):
                pass

    await plane.holds.hold("pause", tenant="acme")
    await _applied(plane, runtime)
    runtime_run = loop.run_in_executor(None, worker)
    await loop.run_in_executor(None, entered.wait, 30)
    await _status(plane, ids[0], "paused")
    await asyncio.sleep(0.2)  # the thread is waiting in reserve, on the loop
    await plane.kills.kill(tenant="acme", reason="stop it")
    with pytest.raises(AgentKilled):
        await asyncio.wait_for(runtime_run, 30)


async def test_a_kill_in_force_wins_over_a_drain_at_start(plane, runtime):
    from agentconsole.agent import AgentKilled

    await plane.holds.hold("drain", tenant="acme")
    await plane.kills.kill(tenant="acme", reason="abuse")
    await _applied(plane, runtime)
    with pytest.raises(AgentKilled):  # stopped and acknowledged, as any killed run
        async with runtime.run(task="t", tenant="acme"):
            pass
