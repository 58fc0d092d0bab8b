"""The Spend view: who is burning money, and capping or stopping that tenant from the
overview in three keys and a reason (issue 14's "who is burning money")."""

from __future__ import annotations

import time

import pytest

from agentconsole.tui.modals import ConfirmScreen
from tests.tui.conftest import fleet, make_app, seed_agents, wait_until
from tests.tui.test_operator_tasks import Keys, wait_for_reason_field

SIZE = (160, 45)


def spend_app(settings, prometheus):
    settings.prometheus.url = prometheus.url
    settings.ui.refresh_seconds = 0.5
    return make_app(settings, start_view="overview", clock=time.time, metrics=True)


async def open_spend(app, pilot, keys: Keys) -> None:
    """$ from the overview; the known traffic's tenants painted, acme (burning most) first."""
    await keys.press("dollar_sign")
    view = app.view("spend")
    await wait_until(pilot, lambda: app.current == "spend", what="the Spend view")
    await wait_until(pilot, lambda: {"acme", "beta"} <= set(view.table.painted), 30, what="rows")
    await wait_until(pilot, lambda: view.table.cursor_key == "acme", what="cursor on acme")


async def test_cap_the_tenant_burning_most_from_the_overview_in_three_keys(
    settings, plane, prometheus
):
    """$, c (cap at what it spent today), a reason, ctrl+y."""
    app = spend_app(settings, prometheus)
    async with app.run_test(size=SIZE) as pilot:
        keys = Keys(pilot)
        await open_spend(app, pilot, keys)
        view = app.view("spend")
        today = next(t.today for t in view.report.tenants if t.tenant == "acme")
        await keys.press("c")
        await wait_for_reason_field(app, pilot)
        title = str(app.screen.query_one("#confirm-title").render())
        assert title.startswith("Cap tenant acme at $") and "(now none)" in title
        await keys.type("burning money")
        await keys.press("ctrl+y")
        await wait_until(
            pilot, lambda: any("daily cap of tenant acme" in t for t in app.toasts), 30
        )
        assert keys.count <= 3
        # the next refresh measures acme against its own cap: over it (spend kept growing)
        await wait_until(
            pilot,
            lambda: (
                view.report.tenants[0].tenant == "acme"
                and view.report.tenants[0].forecast.state == "over"
            ),
            30,
            what="acme over its new cap",
        )
    caps = await plane.budgets.tenant_caps(["acme"])
    assert caps["acme"] >= today and caps["acme"] == int(caps["acme"])
    (entry,) = [e for e in await plane.audit.tail(5) if e.action == "budget.tenant"]
    assert entry.reason == "burning money" and entry.target == "tenant:acme"


async def test_stop_the_tenant_from_the_overview_in_three_keys(settings, plane, prometheus):
    """$, t (the existing tenant kill), a reason, ctrl+y."""
    await seed_agents(plane, fleet())  # agent-001 and agent-002 run for acme
    app = spend_app(settings, prometheus)
    async with app.run_test(size=SIZE) as pilot:
        keys = Keys(pilot)
        await open_spend(app, pilot, keys)
        view = app.view("spend")
        # the agents shown are those of the tenant under the cursor: acme's, not globex's
        await wait_until(pilot, lambda: view.report.agents_of == "acme", 30, what="acme's")
        assert set(view.agents_table.painted) == {"agent-001", "agent-002"}
        title = str(view.query_one("#spend-agents-title").render())
        assert title == "MOST EXPENSIVE AGENTS OF acme"
        await keys.press("t")
        await wait_for_reason_field(app, pilot)
        title = str(app.screen.query_one("#confirm-title").render())
        assert title.startswith("Kill tenant acme: 2 running agents")
        await keys.type("cost explosion")
        await keys.press("ctrl+y")
        await wait_until(pilot, lambda: any("acknowledged" in t for t in app.toasts), 30)
        assert keys.count <= 3
    kills, _ = await plane.kills.list()
    assert "tenant:acme" in kills


async def test_c_with_prometheus_down_says_why_and_opens_nothing(settings, plane):
    from tests.fixtures.procs import free_port

    settings.prometheus.url = f"http://127.0.0.1:{free_port()}"
    settings.prometheus.timeout = 1.0
    settings.ui.refresh_seconds = 0.5
    app = make_app(settings, start_view="spend", clock=time.time, metrics=True)
    async with app.run_test(size=SIZE) as pilot:
        view = app.view("spend")
        await wait_until(pilot, lambda: view.report is not None, 30, what="a report")
        assert view.report.headline.startswith("no forecast: Prometheus unreachable")
        await pilot.press("c")
        await wait_until(pilot, lambda: any("no tenant selected" in t for t in app.toasts), 10)
        assert not isinstance(app.screen, ConfirmScreen)


@pytest.mark.parametrize("size", [(80, 24), (160, 45)])
async def test_the_spend_view_is_readable_at_80x24_and_160x45(size, settings, plane, prometheus):
    """Every column fits (no horizontal scroll), the headline is whole, rows are rows."""
    await plane.budgets.set("tenant_daily_cost_usd", 1e6, reason="a cap for the forecast")
    await seed_agents(plane, fleet())
    settings.prometheus.url = prometheus.url
    app = make_app(settings, start_view="spend", clock=time.time, metrics=True)
    async with app.run_test(size=size) as pilot:
        view = app.view("spend")
        await wait_until(pilot, lambda: len(view.table.painted) == 2, 30, what="tenants")
        await wait_until(pilot, lambda: len(view.agents_table.painted) >= 2, 30)
        await pilot.pause()
        for table in (view.table, view.agents_table):
            assert table.virtual_size.width <= table.size.width, table.id
        assert view.table.size.height >= 3  # header and both tenants
        assert view.agents_table.size.height >= 3
        headline = view.query_one("#spend-headline")
        assert headline.size.height * headline.size.width >= len(view.report.headline)
        assert str(headline.render()) == view.report.headline
        assert view.report.headline.startswith("acme stays within its $1,000,000 daily cap")
        header = str(app.query_one("#header").render()).splitlines()
        assert "[Spend]" in header[0], header
        from agentconsole.tui.footer import ConsoleFooter

        footer = " ".join(str(w.render()) for w in app.screen.query_one(ConsoleFooter).children)
        # c and C in full where there is room, else under their verb ("c/C Cap")
        assert ("Cap now" in footer or "c/C" in footer) and "Stop tenant" in footer, footer


async def test_capped_from_the_console_an_agent_of_the_tenant_is_refused(
    settings, plane, prometheus, make_runtime
):
    """C on acme, 0.05 typed, a reason: the SDK's next charges for acme stop at $0.05."""
    from agentconsole.agent import TokenBudgetExceeded
    from agentconsole.config import ModelPrice

    settings.prices = {"gpt-x": ModelPrice(input_per_1k=0.01, output_per_1k=0.03)}
    rt = await make_runtime(settings=settings)
    app = spend_app(settings, prometheus)
    async with app.run_test(size=SIZE) as pilot:
        keys = Keys(pilot)
        await open_spend(app, pilot, keys)
        await keys.press("C")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen), 30)
        await keys.type("0.05")
        await keys.press("enter")  # on to the reason
        await wait_for_reason_field(app, pilot)
        await keys.type("runaway spend")
        await keys.press("ctrl+y")
        await wait_until(pilot, lambda: any("-> $0.05" in t for t in app.toasts), 30)
        assert keys.count <= 4  # $, C, enter, ctrl+y (+ the value and the reason)
    await rt.wait_for_version(await plane.version())
    charged = 0
    with pytest.raises(TokenBudgetExceeded) as refused:
        async with rt.run(task="t", user="u1", tenant="acme") as run:
            for _ in range(5):
                await run.charge(model="gpt-x", input_tokens=1000, output_tokens=500)
                charged += 1
    assert charged == 2 and refused.value.limit == "tenant_daily_cost_usd"  # $0.025 each


async def test_drain_the_tenant_from_the_overview_in_three_keys(settings, plane, prometheus):
    """$, d (no new runs for acme; running ones finish), a reason, ctrl+y."""
    await seed_agents(plane, fleet())
    app = spend_app(settings, prometheus)
    async with app.run_test(size=SIZE) as pilot:
        keys = Keys(pilot)
        await open_spend(app, pilot, keys)
        await keys.press("d")
        await wait_for_reason_field(app, pilot)
        title = str(app.screen.query_one("#confirm-title").render())
        assert title.startswith("Drain tenant acme: 2 running")
        await keys.type("cost explosion, let runs finish")
        await keys.press("ctrl+y")
        await wait_until(pilot, lambda: any("drain" in t.lower() for t in app.toasts), 30)
        assert keys.count <= 3
    (entry,) = [e for e in await plane.audit.tail(5) if e.action == "drain.tenant"]
    assert entry.reason == "cost explosion, let runs finish"


async def test_at_80x24_the_stop_dialog_keeps_the_reason_and_buttons_on_screen(
    settings, plane, prometheus
):
    """20 running agents listed: the list scrolls, the reason field and Kill stay visible."""
    from agentconsole.control.registry import AgentRecord
    from tests.tui.conftest import T0

    await seed_agents(
        plane, [AgentRecord(id=f"a{i:02d}", tenant="acme", started_at=T0 - 60) for i in range(20)]
    )
    app = spend_app(settings, prometheus)
    async with app.run_test(size=(80, 24)) as pilot:
        keys = Keys(pilot)
        await open_spend(app, pilot, keys)
        await keys.press("t")
        await wait_for_reason_field(app, pilot)
        await pilot.pause()
        screen = app.screen
        for widget in ("#reason", "#confirm"):
            region = screen.query_one(widget).region
            assert region.height and region.bottom <= 24, (widget, region)
        assert "Kill tenant acme: 20 running agents" in str(
            screen.query_one("#confirm-title").render()
        )
        detail = str(screen.query_one("#confirm-detail").render())
        assert "hidden by the current filter" not in detail  # that is the Agents view's
        await pilot.press("escape")


async def test_w_changes_the_burn_window_the_forecast_names(settings, plane, prometheus):
    settings.prometheus.url = prometheus.url
    app = make_app(settings, start_view="spend", clock=time.time, metrics=True)
    async with app.run_test(size=SIZE) as pilot:
        view = app.view("spend")
        await wait_until(pilot, lambda: view.report is not None and view.report.tenants, 30)
        assert view.report.window == "2m"
        await pilot.press("w")
        await wait_until(pilot, lambda: view.report.window == "15m", 30, what="15m")
        assert "over the last 15m" in view.report.headline
        await pilot.press("w", "w")
        await wait_until(pilot, lambda: view.report.window == "2m", 30, what="back to 2m")
