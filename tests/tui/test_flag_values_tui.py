"""Valued flags in the console: the Flags view's variant line, and a tenant moved to the cheap
tier from its row in three keys plus a reason, applied by a real SDK agent."""

from __future__ import annotations

import asyncio
import time

from agentconsole.control.targeting import Constraint
from agentconsole.control.variants import Variant
from agentconsole.tui.modals import ChoiceScreen, ConfirmScreen
from tests.tui.conftest import select_row, wait_until

SIZE = (140, 40)
TIERS = (Variant("standard", 100), Variant("cheap", 0, "gpt-4o-mini"))


async def _model_tier(plane) -> None:
    await plane.flags.create(
        "model-tier", enabled=True, stickiness="tenant", value_type="string", variants=TIERS
    )


async def test_flags_view_shows_variants_weights_payloads_and_constraints(plane, app_factory):
    await _model_tier(plane)
    await plane.flags.set_override("model-tier", "tenant", "globex corp", "cheap")
    await plane.flags.set_constraints("model-tier", (Constraint("region", "IN", ("eu", "us")),))
    await plane.flags.create("plain", enabled=True)
    app = app_factory(start_view="flags", clock=time.time)
    async with app.run_test(size=SIZE) as pilot:
        view = app.view("flags")
        await select_row(pilot, app, "flags", "model-tier")
        detail = view.query_one("#flag-detail")
        await wait_until(pilot, lambda: detail.display, what="detail line")
        text = str(detail.render())
        assert 'standard 100% · cheap 0% = "gpt-4o-mini"' in text
        assert "forced: tenant 'globex corp' → cheap" in text
        assert "only where: region IN eu,us" in text
        view.table.move_cursor(row=view.table.get_row_index("plain"))
        await wait_until(pilot, lambda: not detail.display, what="no detail for a boolean flag")


async def test_move_a_tenant_to_cheap_from_its_row_in_three_keys(plane, app_factory, make_runtime):
    await _model_tier(plane)
    runtime = await make_runtime()
    started, done = asyncio.Event(), asyncio.Event()
    served: list[str] = []

    async def agent() -> None:
        async with runtime.run(task="t", user="u1", tenant="globex") as run:
            started.set()
            while not done.is_set():
                served.append(run.value("model-tier", "claude-opus"))
                await asyncio.sleep(0.05)

    task = asyncio.create_task(agent())
    await asyncio.wait_for(started.wait(), 30)
    (run,) = runtime._runs.values()
    app = app_factory(start_view="agents", clock=time.time)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await select_row(pilot, app, "agents", run.id)
            await pilot.press("v")  # 1: move this tenant to a variant
            await wait_until(pilot, lambda: isinstance(app.screen, ChoiceScreen), what="picker")
            await pilot.press("2")  # 2: model-tier → cheap
            await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="confirm")
            title = str(app.screen.query_one("#confirm-title").render())
            assert (
                title == "Move tenant globex to cheap (gpt-4o-mini) on model-tier (now: by weight)"
            )
            await pilot.press(*"cost explosion")  # the reason
            await pilot.press("ctrl+y")  # 3: confirm
            await wait_until(
                pilot, lambda: any("applied it" in t for t in app.toasts), what="toast"
            )
            toast = next(t for t in app.toasts if "applied it" in t)
            assert "override tenant globex → cheap" in toast
            assert toast.endswith("1 of 1 running agents of globex applied it")
    finally:
        done.set()
        await asyncio.wait_for(task, 3)
    assert served[0] == "claude-opus" and served[-1] == "gpt-4o-mini"
    entry = (await plane.audit.tail(1))[0]
    assert (entry.action, entry.reason, entry.actor) == ("tenant.move", "cost explosion", "alice")


async def test_read_only_has_no_move(plane, app_factory, settings):
    await _model_tier(plane)
    settings.ui.read_only = True
    app = app_factory(start_view="agents", clock=time.time)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert app.view("agents").check_action("op", ("tenant.move",)) is False


async def test_editing_weights_previews_recent_tenants_per_variant(plane, app_factory):
    from agentconsole.control.flag_edits import set_weights
    from agentconsole.control.flags import preview
    from agentconsole.control.registry import AgentRecord
    from tests.tui.conftest import seed_agents

    await _model_tier(plane)
    tenants = [f"tenant {i}" for i in range(30)]
    await seed_agents(
        plane, [AgentRecord(id=f"a{i}", tenant=t) for i, t in enumerate(tenants)], heartbeat_ago=0
    )
    app = app_factory(start_view="flags", clock=time.time)
    async with app.run_test(size=SIZE) as pilot:
        await select_row(pilot, app, "flags", "model-tier")
        await pilot.press("w")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="editor")
        app.screen.query_one("#weights").value = "standard=50 cheap=50"
        flag = await plane.flags.get("model-tier")
        counts = preview(set_weights(flag, {"standard": 50, "cheap": 50}), sorted(tenants))
        expected = f"30 recent tenants: standard {counts['standard']} · cheap {counts['cheap']}"
        await wait_until(
            pilot,
            lambda: expected in str(app.screen.query_one("#preview").render()),
            what="preview",
        )
        assert "(now: standard 30)" in str(app.screen.query_one("#preview").render())
        app.screen.query_one("#weights").value = "standard=50 cheep=50"
        await wait_until(
            pilot,
            lambda: "no variant 'cheep'" in str(app.screen.query_one("#preview").render()),
            what="refusal",
        )
        app.screen.query_one("#weights").value = "standard=50 cheap=50"
        app.screen.query_one("#reason").value = "half the tenants on the cheap tier"
        await pilot.press("ctrl+y")
        await wait_until(pilot, lambda: any("weight 0 → 50" in t for t in app.toasts), what="toast")
    flag = await plane.flags.get("model-tier")
    assert [v.weight for v in flag.variants] == [50, 50]
    assert flag.reason == "half the tenants on the cheap tier"


async def test_a_spend_alert_row_offers_moving_its_tenant(plane, app_factory, settings):
    from agentconsole.metrics.model import Alert
    from agentconsole.tui.safe import cell
    from agentconsole.tui.table import Row

    await _model_tier(plane)
    settings.ui.refresh_seconds = 600  # no refresh repaints the alert rows set below
    app = app_factory(start_view="overview", clock=time.time)
    async with app.run_test(size=SIZE) as pilot:
        view = app.view("overview")
        await pilot.pause()
        alert = Alert(
            "AgentDailySpendHigh", "firing", "warning", {"tenant": "globex corp"}, {}, None,
            "25000", "cost-explosion", "id-1",
        )  # fmt: skip
        view.alerts = {"id-1": alert}
        cells = tuple(cell(v, 8) for v in ("warning", "firing", alert.name, "1m", "", ""))
        view.table.set_rows([Row("id-1", cells, "")])
        view.table.focus()
        view.table.move_cursor(row=0)
        await pilot.press("v")
        await wait_until(pilot, lambda: isinstance(app.screen, ChoiceScreen), what="picker")
        assert app.screen.title_text == "Move tenant globex corp to …"
        assert app.screen.labels == [
            "model-tier → standard",
            "model-tier → cheap (gpt-4o-mini)",
        ]
