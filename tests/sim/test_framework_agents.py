"""The simulated fleet includes agents written on the OpenAI Agents SDK and on LangGraph."""

import asyncio
import time

import pytest
from prometheus_client import CollectorRegistry

from agentconsole.sim import framework_agents
from agentconsole.sim.fleet import Fleet

pytest.importorskip("agents")
pytest.importorskip("langgraph")


async def _until(check, what: str, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while not (value := await check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)
    return value


async def test_framework_agents_run_and_obey_a_kill(plane, settings):
    assert framework_agents.available() == {"openai-agents", "langgraph"}
    fleet = Fleet(settings, 5, "steady", time_scale=0.02, registry=CollectorRegistry(), seed=4)
    stop = asyncio.Event()
    task = asyncio.create_task(fleet.run(stop, out=None))
    try:

        async def framework_runs_finished():
            agents = await plane.agents.list(limit=10)
            done = {
                a.task.split(":", 1)[0]
                for a in agents
                if a.status == "finished" and a.tokens > 0 and ":" in a.task
            }
            return done >= {"openai-agents", "langgraph"}

        await _until(framework_runs_finished, "a finished run of each framework agent")
        # sim-0003 is written on the Agents SDK, sim-0004 on LangGraph
        for agent_id in ("sim-0003", "sim-0004"):

            async def running(agent_id=agent_id):
                record = await plane.agents.get(agent_id)
                return record is not None and record.status == "running"

            await _until(running, f"{agent_id} to be in a run")
            since = time.time()
            await plane.kills.kill(agent=agent_id, reason="demo kill")
            report = await plane.kills.wait_for_acks([agent_id], since=since - 1, timeout=30)
            assert not report.missing, agent_id

            async def killed(agent_id=agent_id, since=since):  # (or, ended: its next run)
                record = await plane.agents.get(agent_id)
                return record.status == "killed" and record.kill_ack_at >= since - 1

            await _until(killed, f"{agent_id} killed and acknowledged")
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
