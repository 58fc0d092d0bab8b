"""The console dispatches the operations table: keys, the `:` line (with completion), the
palette; one ConfirmScreen; an SDK tenant with a space is killed and acknowledged."""

import asyncio
import time

import pytest

from agentconsole.control.registry import AgentRecord
from agentconsole.tui.modals import ConfirmScreen
from tests.tui.conftest import seed_agents, wait_until

SIZE = (140, 40)


async def _command(pilot, line: str) -> None:
    app = pilot.app
    await pilot.press("colon")
    app.query_one("#cmdline").value = line
    await pilot.press("enter")


async def _confirm_with_enter(pilot, reason: str) -> None:
    """Type the reason and press enter: enter in the last field confirms."""
    await wait_until(pilot, lambda: isinstance(pilot.app.screen, ConfirmScreen), what="dialog")
    pilot.app.screen.query_one("#reason").focus()
    await pilot.press(*reason, "enter")
    await wait_until(pilot, lambda: not isinstance(pilot.app.screen, ConfirmScreen))


async def test_colon_line_trips_rolls_out_and_kills(plane, app_factory):
    await plane.redis.hset(plane.keys.breaker_state, "openai", '{"state": "closed"}')
    await plane.flags.create("planner-v2", enabled=True, rollout=0)
    await seed_agents(plane, [AgentRecord(id="sim-0001", tenant="acme")], heartbeat_ago=0)
    app = app_factory(start_view="agents", clock=time.time, ack_timeout=0.2)
    async with app.run_test(size=SIZE) as pilot:
        await app.wait_for_paint("agents")
        await _command(pilot, "trip openai 15m")
        title = lambda: str(app.screen.query_one("#confirm-title").render())  # noqa: E731
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert title().startswith("Trip breaker openai for 15m")
        await _confirm_with_enter(pilot, "provider down")
        await wait_until(pilot, lambda: any("is now forced_open until" in t for t in app.toasts))
        await _command(pilot, "rollout planner-v2 5")  # not destructive: a reason only
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await _confirm_with_enter(pilot, "canary")
        await wait_until(pilot, lambda: any("rollout 5%" in t for t in app.toasts))
        await _command(pilot, "kill sim-0001")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert title() == "Kill 1 agent"
        await _confirm_with_enter(pilot, "runaway")
        await wait_until(pilot, lambda: any("not acknowledged: sim-0001" in t for t in app.toasts))
        await _command(pilot, "trip openai 99999999999999d")  # refused before anything runs
        await wait_until(pilot, lambda: any("at most 366d" in t for t in app.toasts))
        assert not isinstance(app.screen, ConfirmScreen)
    entries = await plane.audit.tail(10)
    actions = [e.action for e in entries if e.action != "flag.create"]
    assert actions == ["breaker.trip", "flag.rollout", "kill.agent"]  # each audited once
    assert entries[-1].reason == "runaway"


async def test_completion_offers_verbs_and_names(plane, app_factory):
    await plane.redis.hset(plane.keys.breaker_state, "openai", '{"state": "closed"}')
    app = app_factory(start_view="breakers", clock=time.time)
    async with app.run_test(size=SIZE) as pilot:
        await app.wait_for_paint("breakers")
        await pilot.press("colon")
        assert app.complete_command("tri") == "trip"
        assert app.complete_command("trip op") == "trip openai"
        assert app.complete_command("breaker fo") == "breaker force-close"
        assert app.complete_command("lift t") == "lift tenant"
        # typed as an operator types it: Tab takes the completion and keeps the line focused
        await pilot.press(*"trip op")
        line = app.query_one("#cmdline")
        await wait_until(pilot, lambda: line._suggestion == "trip openai", what="suggestion")
        await pilot.press("tab", *" 15m", "enter")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="dialog")
        assert "openai" in str(app.screen.query_one("#confirm-title").render())
        assert app.current == "breakers"  # the keys never reached a view


@pytest.mark.parametrize("mode", ["read_only", "viewer"])
async def test_colon_line_has_no_operations_without_the_role(mode, plane, app_factory, settings):
    await seed_agents(plane, [AgentRecord(id="sim-0001", tenant="acme")], heartbeat_ago=0)
    if mode == "read_only":
        settings.ui.read_only = True
    else:
        settings.operator.role = "viewer"
    app = app_factory(start_view="agents", clock=time.time)
    async with app.run_test(size=SIZE) as pilot:
        await app.wait_for_paint("agents")
        await _command(pilot, "kill sim-0001")
        await wait_until(pilot, lambda: any("is not available" in t for t in app.toasts))
        assert app.complete_command("ki") is None  # not even completed
        assert not isinstance(app.screen, ConfirmScreen)
    assert (await plane.kills.list())[0] == {}


async def test_palette_offers_the_selected_rows_operations(plane, app_factory):
    await seed_agents(plane, [AgentRecord(id="a1", tenant="Acme Corp")], heartbeat_ago=0)
    app = app_factory(start_view="agents", clock=time.time)
    async with app.run_test(size=SIZE) as pilot:
        await app.wait_for_paint("agents")
        await pilot.pause()
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert {"kill agent a1", 'kill tenant "Acme Corp"', "kill all"} <= set(titles)
        assert not any(t.startswith("breaker") for t in titles)  # not for an agent row


async def test_an_sdk_tenant_with_a_space_is_killed_from_the_console_and_lifted(
    plane, app_factory, make_runtime
):
    """Pressing t on such an agent used to close the console with a traceback."""
    from agentconsole.agent import AgentKilled

    runtime = await make_runtime()
    started = asyncio.Event()

    async def agent() -> None:
        async with runtime.run(task="long job", user="u1", tenant="Acme Corp") as run:
            started.set()
            await run.call("llm", asyncio.Event().wait)

    task = asyncio.create_task(agent())
    await asyncio.wait_for(started.wait(), 30)
    (run,) = runtime._runs.values()
    app = app_factory(start_view="agents", clock=time.time, ack_timeout=30)
    async with app.run_test(size=SIZE) as pilot:
        table = app.view("agents").table
        await wait_until(pilot, lambda: run.id in table.painted, timeout=30, what="agent row")
        table.move_cursor(row=table.get_row_index(run.id))
        await pilot.press("t")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen), timeout=30)
        title = str(app.screen.query_one("#confirm-title").render())
        assert title.startswith("Kill tenant Acme Corp: 1 running agents")
        await _confirm_with_enter(pilot, "space in the name")
        with pytest.raises(AgentKilled):
            await asyncio.wait_for(task, 30)
        said = lambda: [t for t in app.toasts if "acknowledged" in t]  # noqa: E731
        await wait_until(pilot, lambda: bool(said()), timeout=30, what="toast")
        assert said()[0].startswith("killed 1 agent, 1 acknowledged in Redis within")
        await wait_until(
            pilot, lambda: "tenant:Acme Corp" in app.view("agents").kills, what=str(app.toasts)
        )
        await pilot.press("l")  # lift: the kill that stops this agent is its tenant's
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen), timeout=30)
        await _confirm_with_enter(pilot, "tenant fixed")  # every change asks for a reason
        await wait_until(pilot, lambda: any("lifted" in t for t in app.toasts), timeout=30)
    assert (await plane.kills.list())[0] == {}
    actions = [(e.action, e.target) for e in await plane.audit.tail(5)]
    assert actions == [("kill.tenant", "tenant:Acme Corp"), ("kill.lift", "tenant:Acme Corp")]
