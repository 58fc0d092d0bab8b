"""`agentconsole agents kill` against agents running the real SDK: what it prints is true."""

from __future__ import annotations

import asyncio
import contextlib
import re

import pytest

from tests.fixtures.wait import eventually


async def _agent(runtime, started: asyncio.Event, **kw) -> None:
    async with runtime.run(task="long job", **kw) as run:
        started.set()
        await run.call("llm", asyncio.sleep, 60)


async def test_kill_tenant_reports_real_acknowledgements(plane, settings, acli):
    prometheus_client = pytest.importorskip("prometheus_client")
    from agentconsole.agent import AgentRuntime

    runtime = AgentRuntime(
        settings,
        registry=prometheus_client.CollectorRegistry(),
        heartbeat_interval=0.2,
        report_interval=0.1,
    )
    await runtime.start()
    tasks = []
    try:
        for tenant in ("acme", "acme", "other"):
            started = asyncio.Event()
            tasks.append(asyncio.create_task(_agent(runtime, started, user="u", tenant=tenant)))
            await asyncio.wait_for(started.wait(), 30)
        r = await acli("agents", "kill", "--tenant", "acme", "--yes", "--reason", "abuse")
        assert r.code == 0, r.err
        assert re.fullmatch(
            r"killed 2 agents, all 2 acknowledged in Redis within \d+ ms of the kill\n", r.out
        ), r.out
        done, _ = await asyncio.wait(tasks[:2], timeout=30)
        assert len(done) == 2 and not tasks[2].done()  # the other tenant's agent still runs
        expected = [("acme", "killed"), ("acme", "killed"), ("other", "running")]

        async def listed_as_expected() -> bool:  # the kill reaches the rows just after
            listed = (await acli("--json", "agents", "list")).json()["agents"]
            return sorted((a["tenant"], a["status"]) for a in listed) == expected

        await eventually(listed_as_expected, what="the listing")
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task
        await runtime.close()


@pytest.mark.parametrize(
    "argv",
    [
        ("agents", "kill", "--tenant", "Acme Corp"),
        ("do", "--yes", "--wait", "30", "--reason", "r", "kill", "tenant", "Acme Corp"),
        ("do", "--yes", "--wait", "30", "--reason", "r", 'kill tenant "Acme Corp"'),  # : line
    ],
)
async def test_an_sdk_tenant_with_a_space_is_killed_and_acknowledged(settings, acli, argv):
    """What the SDK accepts as a tenant, the CLI can stop (it used to exit 2: invalid)."""
    prometheus_client = pytest.importorskip("prometheus_client")
    from agentconsole.agent import AgentRuntime

    runtime = AgentRuntime(
        settings, registry=prometheus_client.CollectorRegistry(), heartbeat_interval=0.2
    )
    await runtime.start()
    started = asyncio.Event()
    task = asyncio.create_task(_agent(runtime, started, user="u", tenant="Acme Corp"))
    try:
        await asyncio.wait_for(started.wait(), 30)
        extra = ("--yes", "--wait", "30", "--reason", "r") if argv[0] == "agents" else ()
        r = await acli(*argv, *extra)
        assert r.code == 0, r.err
        assert re.fullmatch(
            r"killed 1 agent, 1 acknowledged in Redis within \d+ ms of the kill\n", r.out
        ), r.out
        await asyncio.wait_for(asyncio.wait([task]), 30)
        audit = (await acli("--json", "audit", "tail")).json()
        kills = [e for e in audit["entries"] if e["action"] == "kill.tenant"]
        assert [e["target"] for e in kills] == ["tenant:Acme Corp"]  # audited exactly once
    finally:
        task.cancel()
        with contextlib.suppress(BaseException):
            await task
        await runtime.close()


@pytest.mark.parametrize("tenant", ["", " acme", "a\nb", "x" * 129, "a\x1b[2J"])
async def test_the_sdk_refuses_at_run_what_no_operation_can_target(settings, tenant):
    prometheus_client = pytest.importorskip("prometheus_client")
    from agentconsole.agent import AgentRuntime
    from agentconsole.text import Invalid

    runtime = AgentRuntime(settings, registry=prometheus_client.CollectorRegistry())
    await runtime.start()
    try:
        if not tenant:  # no tenant at all is fine: nothing to target
            async with runtime.run(task="t", tenant=tenant):
                pass
            return
        with pytest.raises(Invalid, match="invalid tenant"):
            runtime.run(task="t", tenant=tenant)
    finally:
        await runtime.close()
