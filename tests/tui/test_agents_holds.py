"""The ladder in the Agents view: drain (d), pause (z), resume (r), undrain (u), against a
real Redis and a real SDK runtime whose run obeys them."""

import asyncio
import time

from agentconsole.tui.modals import ConfirmScreen
from tests.cli import conftest as cli_fixtures
from tests.tui.conftest import confirm, wait_until

cli_env, acli = cli_fixtures.cli_env, cli_fixtures.acli  # the in-process CLI, as fixtures

SIZE = (160, 45)


async def test_drain_pause_resume_undrain_from_the_agents_view(plane, app_factory, make_runtime):
    runtime = await make_runtime()
    started, go = asyncio.Event(), asyncio.Event()
    calls = []

    async def work():
        calls.append(1)

    async def agent():
        async with runtime.run(task="long job", user="u1", tenant="acme") as run:
            started.set()
            await go.wait()
            await run.call("llm", work)  # where a pause holds it

    task = asyncio.create_task(agent())
    await asyncio.wait_for(started.wait(), 30)
    (run,) = runtime._runs.values()
    app = app_factory(start_view="agents", clock=time.time)
    async with app.run_test(size=SIZE) as pilot:
        view = app.view("agents")
        table = view.table

        def status() -> str:
            brief = view.briefs.get(run.id)
            return brief.status if brief else ""

        def header() -> str:
            return str(app.query_one("#header").render())

        await wait_until(pilot, lambda: run.id in table.painted, what="agent row")
        table.move_cursor(row=table.get_row_index(run.id))

        await pilot.press("d")  # drain its tenant
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        title = str(app.screen.query_one("#confirm-title").render())
        assert "Drain tenant acme: 1 running run will finish, new runs refused" in title
        await confirm(pilot, reason="noisy tenant")
        await wait_until(pilot, lambda: any(t.startswith("draining") for t in app.toasts))
        assert app.toasts[-1] == (
            "draining tenant acme: 1 running run will finish, new runs refused "
            "(undrain tenant acme lifts it)"
        )
        await wait_until(pilot, lambda: status() == "draining", 30, what="draining row")
        await wait_until(pilot, lambda: "⏸ in force: drain tenant:acme" in header(), 30)
        summary = str(app.query_one("#agents-summary").render())
        assert "1 drain in force" in summary

        await pilot.press("z")  # pause the agent
        await confirm(pilot, reason="look first")
        await wait_until(pilot, lambda: any(t.startswith("pausing") for t in app.toasts))
        assert "1 reported paused within" in app.toasts[-1]
        await wait_until(pilot, lambda: status() == "paused", 30, what="paused row")
        go.set()
        await asyncio.sleep(0.2)
        assert not calls and not task.done()  # held at its next guarded call

        await pilot.press("r")  # resume: asks for a reason like every change
        await confirm(pilot, reason="seen enough")
        await asyncio.wait_for(task, 30)
        assert calls == [1]
        await wait_until(pilot, lambda: any("held runs continue" in t for t in app.toasts))

        await pilot.press("u")  # the run finished; undrain names its tenant's drain
        await confirm(pilot, reason="calm")
        await wait_until(pilot, lambda: any("new runs may start" in t for t in app.toasts))
        await wait_until(pilot, lambda: "⏸ in force" not in header(), 30, what="header clear")
    actions = [(e.action, e.reason) for e in await plane.audit.tail(10)]
    assert actions == [
        ("drain.tenant", "noisy tenant"),
        ("pause.agent", "look first"),
        ("pause.lift", "seen enough"),
        ("drain.lift", "calm"),
    ]


async def test_pause_a_runaway_from_the_overview(settings, plane):
    """z on a TOP RUNAWAY AGENTS row pauses that agent: the step before k."""
    from tests.tui.conftest import fleet, make_app, seed_agents

    await seed_agents(plane, fleet())  # agent-003: 77 steps of 50, a runaway
    app = make_app(settings, start_view="overview")
    async with app.run_test(size=SIZE) as pilot:
        runaway = app.view("overview").runaway_table
        await wait_until(pilot, lambda: "agent-003" in runaway.painted, what="runaway row")
        await pilot.press("z")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        title = str(app.screen.query_one("#confirm-title").render())
        assert title.startswith("Pause 1 agent: 1 running run holds at its next step")
        await confirm(pilot, reason="look at it first")
        await wait_until(
            pilot, lambda: any(t.startswith("pausing agent agent-003") for t in app.toasts)
        )
    holds, _ = await plane.holds.list()
    assert set(holds) == {"pause:agent:agent-003"}


async def test_the_detail_and_status_name_the_drains_and_pauses_that_hold_an_agent(
    plane, app_factory, acli
):
    from agentconsole.tui.agent_detail import AgentDetailScreen
    from tests.tui.conftest import fleet, seed_agents, select_row

    await seed_agents(plane, fleet())
    record = await plane.agents.get("agent-003")
    await plane.holds.hold("drain", tenant=record.tenant, reason="noisy")
    await plane.holds.hold("pause", everything=True, reason="freeze")
    await plane.holds.hold("pause", tenant="somebody-else")
    app = app_factory(start_view="agents")
    async with app.run_test(size=SIZE) as pilot:
        await select_row(pilot, app, "agents", "agent-003")
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, AgentDetailScreen))
        await wait_until(pilot, lambda: app.screen.detail is not None, what="detail loaded")
        shown = str(app.screen.query_one("#agent-detail").render())
    assert f"drain tenant:{record.tenant}, pause all in force" in shown
    assert "somebody-else" not in shown
    status = (await acli("--json", "status")).json()
    assert status["holds"]["in_force"] == 3
    assert f"drain:tenant:{record.tenant}" in status["holds"]["targets"]
    assert "3 in force: drain:tenant:" in (await acli("status")).out


async def test_u_lifts_the_one_drain_in_force_even_when_no_row_is_of_its_tenant(plane, app_factory):
    """A drained tenant's runs finish and leave: u still reaches its drain (header: u undrains)."""
    from tests.tui.conftest import fleet, seed_agents

    await seed_agents(plane, fleet())
    await plane.holds.hold("drain", tenant="gone-tenant", reason="noisy")
    app = app_factory(start_view="agents")
    async with app.run_test(size=SIZE) as pilot:
        table = app.view("agents").table
        await wait_until(pilot, lambda: len(table.painted) > 0, what="rows")
        await wait_until(pilot, lambda: app.view("agents").holds, what="holds loaded")
        await pilot.press("u")
        await confirm(pilot, reason="back to normal")
        await wait_until(pilot, lambda: any("new runs may start" in t for t in app.toasts))
    assert (await plane.holds.list())[0] == {}


async def test_80x24_with_a_kill_a_drain_and_a_pause_in_force(settings, prometheus, plane):
    """Two more header lines: health, alerts and panels must stay on screen at 80x24."""
    from tests.tui.conftest import make_app

    await plane.kills.kill(tenant="evil", reason="abuse")
    await plane.holds.hold("drain", tenant="acme", reason="noisy")
    await plane.holds.hold("pause", everything=True, reason="freeze")
    settings.prometheus.url = prometheus.url
    app = make_app(settings, start_view="overview", clock=time.time, metrics=True)
    async with app.run_test(size=(80, 24)) as pilot:
        overview = app.view("overview")

        def header() -> list[str]:
            return str(app.query_one("#header").render()).splitlines()

        await wait_until(pilot, lambda: any("⏸ in force" in line for line in header()), 30)
        await wait_until(pilot, lambda: len(overview.table.painted) >= 1, 30, what="alerts")
        lines = header()
        assert "Redis ●" in lines[1] and "Prometheus ●" in lines[1]
        assert lines[2].startswith("⛔ kills in force: tenant:evil")
        assert lines[3].startswith("⏸ in force: drain tenant:acme, pause all")

        def panels_shown() -> list:
            return [c for c in overview.query(".panel") if c.display and c.region.height]

        # cards mounted with the alerts get their region at the next layout: wait for it
        await wait_until(pilot, lambda: bool(panels_shown()), 30, what="panels laid out")
        assert overview.table.region.height >= 3
