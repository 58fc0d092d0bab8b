"""`agentconsole drain|pause ...` and `do resume ...` against agents running the real SDK."""

from __future__ import annotations

import asyncio
import contextlib
import re

import pytest

from agentconsole.agent import Drained


async def test_pause_drain_resume_undrain_from_the_cli(settings, acli):
    prometheus_client = pytest.importorskip("prometheus_client")
    from agentconsole.agent import AgentRuntime

    runtime = AgentRuntime(
        settings, registry=prometheus_client.CollectorRegistry(), heartbeat_interval=0.2
    )
    await runtime.start()
    calls: list[int] = []
    started, go = asyncio.Event(), asyncio.Event()

    async def work():
        calls.append(1)

    async def agent():
        async with runtime.run(task="long job", tenant="acme") as run:
            started.set()
            await go.wait()
            await run.call("llm", work)

    task = asyncio.create_task(agent())
    try:
        await asyncio.wait_for(started.wait(), 30)
        r = await acli("pause", "tenant", "acme", "--yes", "--reason", "look", "--wait", "30")
        assert r.code == 0, r.err
        assert re.fullmatch(
            r"pausing tenant acme: 1 running run holds at its next step until resumed, new "
            r"runs hold too; 1 reported paused within \d+ ms \(resume tenant acme lifts it\)\n",
            r.out,
        ), r.out
        listed = (await acli("--json", "agents", "list")).json()["agents"]
        assert [a["status"] for a in listed] == ["paused"]
        go.set()
        await asyncio.sleep(0.2)
        assert not calls  # held at its next guarded call

        r = await acli("drain", "tenant", "acme", "--yes", "--reason", "noisy")
        assert r.code == 0 and "new runs refused" in r.out, r.err
        version = await runtime.control.version()
        assert await runtime.wait_for_version(version, 30)
        with pytest.raises(Drained):
            async with runtime.run(task="new", tenant="acme"):
                pass

        r = await acli("do", "--reason", "fine", "resume", "tenant", "acme")
        assert r.code == 0 and r.out == "pause of tenant acme lifted: held runs continue\n"
        await asyncio.wait_for(task, 30)
        assert calls == [1]
        r = await acli("drain", "lift", "tenant", "acme", "--reason", "calm")
        assert r.code == 0 and r.out == "drain of tenant acme lifted: new runs may start\n", r.err
    finally:
        task.cancel()
        with contextlib.suppress(BaseException):
            await task
        await runtime.close()


async def test_a_viewer_cannot_drain_and_drain_asks_first(plane, acli):
    r = await acli("drain", "all", "--reason", "x", role="viewer")
    assert r.code != 0 and "needs the responder role" in r.err
    r = await acli("drain", "all", "--reason", "x")  # no terminal to ask: refused, not done
    assert r.code != 0
    assert await plane.audit.tail(5) == [] and (await plane.holds.list())[0] == {}
