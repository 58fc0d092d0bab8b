"""Kill actions pressed in the console, against a real Redis (and a real SDK runtime)."""

import asyncio
import time

import pytest

from agentconsole.control.registry import AgentRecord
from agentconsole.tui.modals import ConfirmScreen
from tests.fixtures.wait import killed_row
from tests.tui.conftest import confirm, fleet, seed_agents, wait_until

SIZE = (140, 40)


async def _agents_app(app_factory, plane, records=None):
    await seed_agents(plane, records or fleet(), heartbeat_ago=0.0)
    return app_factory(start_view="agents", clock=time.time)


async def test_kill_pressed_in_console_cancels_an_sdk_agents_task(plane, app_factory, make_runtime):
    from agentconsole.agent import AgentKilled

    runtime = await make_runtime()
    started = asyncio.Event()

    async def agent() -> None:
        async with runtime.run(task="long job", user="u1", tenant="acme") as run:
            started.set()
            await run.call("llm", asyncio.Event().wait)

    task = asyncio.create_task(agent())
    await asyncio.wait_for(started.wait(), 30)
    (run,) = runtime._runs.values()
    app = app_factory(start_view="agents", clock=time.time)
    async with app.run_test(size=SIZE) as pilot:
        table = app.view("agents").table
        await wait_until(pilot, lambda: run.id in table.painted, what="agent row")
        table.move_cursor(row=table.get_row_index(run.id))
        await pilot.press("k")
        await confirm(pilot, reason="runaway spend")
        with pytest.raises(AgentKilled):
            await asyncio.wait_for(task, 30)
        await wait_until(pilot, lambda: any("acknowledged" in t for t in app.toasts), what="toast")
        toast = next(t for t in app.toasts if "acknowledged" in t)
        assert toast.startswith("killed 1 agent, 1 acknowledged in Redis within")
    record = await killed_row(plane, run.id)
    assert record.kill_ack_at > 0 and record.kill_reason == "runaway spend"
    assert record.killed_by == "alice"
    entry = (await plane.audit.tail(1))[0]
    assert entry.action == "kill.agent" and entry.actor == "alice"


async def test_kill_marked_rows_and_ack_report(plane, app_factory):
    app = await _agents_app(app_factory, plane)
    async with app.run_test(size=SIZE) as pilot:
        table = app.view("agents").table
        await wait_until(pilot, lambda: len(table.painted) == 3, what="rows")
        table.move_cursor(row=0)
        await pilot.press("space", "space")
        assert len(table.marked) == 2
        marked = set(table.marked)
        await pilot.press("k")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        title = str(app.screen.query_one("#confirm-title").render())
        assert "Kill 2 agents" in title
        await confirm(pilot, reason="bulk")
        await wait_until(pilot, lambda: any("not acknowledged" in t for t in app.toasts))
        # nobody acknowledges (no SDK here): the toast names them rather than claiming success
        toast = app.toasts[-1]
        assert toast.startswith("killed 2 agents, 0 acknowledged")
        assert all(agent_id in toast for agent_id in marked)
        assert not table.marked
    kills, _ = await plane.kills.list()
    assert set(kills) == {f"agent:{i}" for i in marked}


async def test_cancel_is_the_default_and_applies_nothing(plane, app_factory):
    app = await _agents_app(app_factory, plane)
    async with app.run_test(size=SIZE) as pilot:
        table = app.view("agents").table
        await wait_until(pilot, lambda: len(table.painted) == 3)
        await pilot.press("k")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert app.screen.focused.id == "reason"
        await pilot.press(*"oops", "escape")  # escape cancels, whatever was typed
        await wait_until(pilot, lambda: not isinstance(app.screen, ConfirmScreen))
        await pilot.press("S")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("escape")
        await wait_until(pilot, lambda: not isinstance(app.screen, ConfirmScreen))
    assert (await plane.kills.list())[0] == {}
    assert await plane.audit.tail(5) == []


async def test_kill_tenant_counts_rows_hidden_by_the_filter(plane, app_factory):
    app = await _agents_app(app_factory, plane)
    async with app.run_test(size=SIZE) as pilot:
        table = app.view("agents").table
        await wait_until(pilot, lambda: len(table.painted) == 3)
        await pilot.press("slash", *"agent-001", "enter")
        await wait_until(pilot, lambda: len(table.painted) == 1)
        await pilot.press("t")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        title = str(app.screen.query_one("#confirm-title").render())
        detail = str(app.screen.query_one("#confirm-detail").render())
        assert "Kill tenant acme: 2 running agents" in title
        assert "1 of them hidden by the current filter" in detail
        await confirm(pilot, reason="abuse")
        await wait_until(pilot, lambda: any(t.startswith("killed 2 agents") for t in app.toasts))
    kills, _ = await plane.kills.list()
    assert kills["tenant:acme"]["reason"] == "abuse"


async def test_global_stop_and_repeat_is_reported_not_reapplied(plane, app_factory):
    app = await _agents_app(app_factory, plane)
    async with app.run_test(size=SIZE) as pilot:
        table = app.view("agents").table
        await wait_until(pilot, lambda: len(table.painted) == 3)
        await pilot.press("S")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert "GLOBAL STOP" in str(app.screen.query_one("#confirm-title").render())
        await confirm(pilot, reason="stop the fleet")
        await wait_until(pilot, lambda: any(t.startswith("killed 3 agents") for t in app.toasts))
        await pilot.press("S")
        await confirm(pilot, reason="again")
        await wait_until(pilot, lambda: any("already in force" in t for t in app.toasts))
        await wait_until(pilot, lambda: "killing" in str(table.get_row_at(0)))
    entries = await plane.audit.tail(10)
    assert [e.action for e in entries] == ["kill.all"]  # the second press applied nothing


async def test_runaway_agents_are_highlighted(plane, app_factory):
    records = [*fleet(), AgentRecord(id="quiet", tenant="acme", steps=1)]
    app = await _agents_app(app_factory, plane, records)
    async with app.run_test(size=SIZE) as pilot:
        table = app.view("agents").table
        await wait_until(pilot, lambda: len(table.painted) == 4)
        status = table.get_cell("agent-003", "status")
        assert "steps" in status.plain and "budget" in status.plain
        assert "red" in str(table.get_cell("agent-003", "id").style)
        assert table.get_cell("quiet", "status").plain == "running"
