"""Scaled-down load: 1,000 SDK agents heartbeating in another process while an operator
works the console. Correctness only (the figures come from bench/bench_load.py): every
agent is counted, nothing fails, the keys answer, a cancelled kill dialog kills nothing.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.faults.heartbeat_fleet import FleetProcesses
from tests.faults.keys import keys_answer, kill_dialog_cancelled
from tests.tui.conftest import make_app, wait_until

AGENTS = 1000
ERROR_WORDS = ("failed", "unreachable", "error", "cannot", "not permitted")


@pytest.mark.slow
async def test_console_under_1000_heartbeating_agents(settings, plane):
    settings.ui.refresh_seconds = 0.5
    fleet = FleetProcesses(
        settings.redis.url, settings.redis.prefix, AGENTS, 1, seconds=40, heartbeat=1.0
    )
    fleet.start()
    try:
        ready = await asyncio.to_thread(fleet.wait_ready)
        assert sum(r["ready"] for r in ready) == AGENTS
        app = make_app(settings, start_view="agents", clock=time.time, metrics=False)
        async with app.run_test(size=(160, 50)) as pilot:
            view = app.view("agents")
            await wait_until(pilot, lambda: view.total == AGENTS, timeout=30, what="all agents")
            summary = str(view.query_one("#agents-summary").render())
            assert summary.startswith(f"{AGENTS:,} agents")
            await keys_answer(pilot, app)
            await kill_dialog_cancelled(pilot, app)
            await keys_answer(pilot, app)
            # still every agent, after more refreshes under heartbeats
            await pilot.press("2")
            painted = app.paint_counts.get("agents", 0)
            await app.wait_for_paint("agents", painted + 2, timeout=30)
            assert view.total == AGENTS
            assert len(view.table.painted) == AGENTS
            assert app.redis_health.ok
            bad = [t for t in app.toasts if any(w in t.lower() for w in ERROR_WORDS)]
            assert not bad, bad
    finally:
        summaries = await asyncio.to_thread(fleet.stop)
    assert await plane.kills.list() == ({}, [])  # the cancelled dialog killed nothing
    assert len(summaries) == 1
    result = summaries[0]
    assert result["entered"] == AGENTS
    assert result["run_errors"] == 0, result["first_error"]
    assert result["write_errors"] == 0
    assert result["heartbeats"] >= AGENTS  # every agent heartbeated during the session
