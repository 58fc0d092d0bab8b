"""The Agents view holds a window of the fleet, the top of the index it is sorted by."""

from __future__ import annotations

import time

from agentconsole.control.registry import AgentRecord
from tests.tui.conftest import wait_until

SIZE = (140, 40)


async def test_a_fleet_larger_than_the_window_shows_its_most_expensive_agents(plane, app_factory):
    records = [
        AgentRecord(id=f"w{i:03d}", task="t", tenant=f"t{i % 3}", cost=i / 10) for i in range(60)
    ]
    await plane.agents.write_many(records)
    app = app_factory(start_view="agents", clock=time.time, agent_limit=10)
    async with app.run_test(size=SIZE) as pilot:
        view = app.view("agents")
        await wait_until(pilot, lambda: len(view.table.painted) == 10, what="a window of rows")
        assert set(view.table.painted) == {f"w{i:03d}" for i in range(50, 60)}
        summary = str(view.query_one("#agents-summary").render())
        assert summary.startswith("60 agents · showing the 10 with the most cost")
        await pilot.press("s")  # next sort column: the window follows only indexed orders
        await pilot.pause()
        assert len(view.table.painted) <= 10
