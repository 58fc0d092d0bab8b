"""Redis killed and restarted under 100 SDK agents (4 runtimes of 25 runs, like 4 processes).

During the outage the agents keep running on their last snapshot and their staleness grows.
Past ``stale_limit`` the declared failure policy refuses new runs. A kill issued during the
outage fails clearly. After the restart every runtime resyncs, a kill stops all 100 runs,
every stop is acknowledged, and the kill is in the audit once.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from agentconsole.control import ControlPlane, Unavailable
from agentconsole.control.plane import translate
from tests.fixtures.fleet import close_fleet, make_fleet
from tests.fixtures.redis import settings_for
from tests.fixtures.wait import eventually

pytest.importorskip("agentconsole.agent.runtime")

RUNTIMES, RUNS_EACH = 4, 25


def _settings(url: str):
    return settings_for(url, "fleet", "olga", "responder", connect_timeout=0.3, socket_timeout=1.0)


async def test_redis_restart_under_100_agents(durable_redis):
    from agentconsole.agent import AgentKilled, NewRunsRefused

    operator = ControlPlane.from_settings(_settings(durable_redis.url))
    await operator.check_schema()
    runtimes = make_fleet(
        lambda: _settings(durable_redis.url),
        RUNTIMES,
        heartbeat_interval=0.3,
        report_interval=0.3,
        resync_interval=0.3,
        stale_limit=1.0,
    )
    for rt in runtimes:
        await rt.start()
    ready = asyncio.Semaphore(0)

    async def agent(rt) -> None:
        async with rt.run(task="work", tenant="acme"):
            ready.release()
            await asyncio.Event().wait()

    tasks = [asyncio.create_task(agent(rt)) for rt in runtimes for _ in range(RUNS_EACH)]
    try:
        for _ in tasks:
            await asyncio.wait_for(ready.acquire(), 10)
        ids = [run_id for rt in runtimes for run_id in rt._runs]
        assert len(ids) == RUNTIMES * RUNS_EACH

        durable_redis.kill()
        with pytest.raises(Exception) as info:  # a kill during the outage: a clear failure
            await operator.kills.kill(everything=True, reason="during outage")
        assert isinstance(translate(info.value), Unavailable)

        async def all_in_safe_mode() -> bool:
            return all(rt.safe_mode for rt in runtimes)

        await eventually(all_in_safe_mode, 5, "runtimes past stale_limit")
        assert not any(t.done() for t in tasks)  # the runs kept going on their snapshot
        with pytest.raises(NewRunsRefused):  # the declared policy for new work
            async with runtimes[0].run(task="new during outage"):
                pass

        durable_redis.start()

        async def all_fresh() -> bool:
            return not any(rt.safe_mode for rt in runtimes)

        await eventually(all_fresh, 10, "runtimes fresh again")
        since = time.time()
        outcome = await operator.kills.kill(everything=True, reason="after recovery")
        assert outcome.created
        results = await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 10)
        assert all(isinstance(r, AgentKilled) for r in results), {type(r) for r in results}
        report = await operator.kills.wait_for_acks(ids, since=since - 1, timeout=10)
        assert not report.missing and len(report.acknowledged) == len(ids)
        actions = [e.action for e in await operator.audit.tail(50)]
        assert actions.count("kill.all") == 1
    finally:
        await close_fleet(tasks, runtimes, operator)
