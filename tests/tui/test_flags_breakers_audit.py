"""Flag, breaker and audit actions pressed in the console, against a real Redis."""

import time

from agentconsole.control.registry import AgentRecord
from agentconsole.tui.modals import ConfirmScreen
from agentconsole.tui.operations import preview_count
from tests.tui.conftest import confirm, seed_agents, wait_until

SIZE = (140, 40)


def _app(app_factory, view, **kw):
    return app_factory(start_view=view, clock=time.time, **kw)


async def test_toggle_flag_reaches_an_sdk_runtime(plane, app_factory, make_runtime):
    await plane.flags.create("checkout-v2", enabled=True)
    runtime = await make_runtime()
    assert runtime.flags.enabled("checkout-v2", "u1")
    app = _app(app_factory, "flags")
    async with app.run_test(size=SIZE) as pilot:
        table = app.view("flags").table
        await wait_until(pilot, lambda: "checkout-v2" in table.painted)
        await pilot.press("e")
        await confirm(pilot, reason="checkout bug")  # every change asks for a reason
        await wait_until(pilot, lambda: any("is now off" in t for t in app.toasts))
        await runtime.wait_for_version(await plane.version())
        assert not runtime.flags.enabled("checkout-v2", "u1")
        await wait_until(pilot, lambda: table.get_cell("checkout-v2", "state").plain == "off")
    assert (await plane.audit.tail(1))[0].action == "flag.disable"


async def test_disabling_a_kill_switch_asks_first(plane, app_factory):
    await plane.flags.create("llm-calls", type="kill-switch", enabled=True)
    app = _app(app_factory, "flags")
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: "llm-calls" in app.view("flags").table.painted)
        await pilot.press("e")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert "ENGAGES the kill switch" in str(app.screen.query_one("#confirm-title").render())
        await confirm(pilot, reason="provider meltdown")
        await wait_until(pilot, lambda: any("is now off" in t for t in app.toasts))
    flag = await plane.flags.get("llm-calls")
    assert not flag.enabled and flag.reason == "provider meltdown"


async def test_conflict_shows_current_value_and_overwrites_nothing(
    plane, plane_as, app_factory, settings
):
    await plane.flags.create("beta", enabled=True)
    settings.ui.refresh_seconds = 600  # the console keeps the old version on screen
    app = _app(app_factory, "flags", live_events=False)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: "beta" in app.view("flags").table.painted)
        await plane_as("bob", "responder").flags.set_rollout("beta", 10, reason="canary")
        await pilot.press("e")
        await confirm(pilot, reason="beta off")
        await wait_until(pilot, lambda: any("not applied" in t for t in app.toasts))
        toast = next(t for t in app.toasts if "not applied" in t)
        assert "changed by bob" in toast and '"rollout_bp": 1000' in toast
    flag = await plane.flags.get("beta")
    assert flag.enabled and flag.rollout_bp == 1000 and flag.changed_by == "bob"


async def test_rollout_with_preview(plane, app_factory):
    await plane.flags.create("new-planner", enabled=True, rollout=0)
    users = [f"user-{i}" for i in range(40)]
    await seed_agents(
        plane, [AgentRecord(id=f"a{i}", user=u) for i, u in enumerate(users)], heartbeat_ago=0
    )
    app = _app(app_factory, "flags")
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: "new-planner" in app.view("flags").table.painted)
        await pilot.press("o")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press(*"50")
        flag = await plane.flags.get("new-planner")
        expected = preview_count(flag, 5000, users)
        preview = str(app.screen.query_one("#preview").render())
        assert f"{expected} of 40 recent users in the canary (now 0)" in preview
        app.screen.query_one("#reason").value = "widen canary"
        await pilot.click("#confirm")
        await wait_until(pilot, lambda: any("rollout 50%" in t for t in app.toasts))
    assert (await plane.flags.get("new-planner")).rollout_bp == 5000


async def test_trip_for_a_duration_force_close_and_reset(plane, app_factory):
    await plane.redis.hset(plane.keys.breaker_state, "openai", '{"state": "closed"}')
    app = _app(app_factory, "breakers")
    async with app.run_test(size=SIZE) as pilot:
        table = app.view("breakers").table
        await wait_until(pilot, lambda: "openai" in table.painted)
        await pilot.press("t")
        await confirm(pilot, reason="provider down", extra={"#duration": "10m"})
        await wait_until(pilot, lambda: any("forced_open until" in t for t in app.toasts))
        await wait_until(pilot, lambda: table.get_cell("openai", "effective").plain == "open")
        mode = await plane.breakers.get("openai")
        assert mode.mode == "forced_open" and 590 < mode.until - time.time() <= 600
        await pilot.press("f")
        await confirm(pilot, reason="false alarm")
        await wait_until(pilot, lambda: any("is now forced_closed" in t for t in app.toasts))
        await pilot.press("r")  # reset: the one verb for "back to automatic"
        await confirm(pilot, reason="provider recovered")  # it asks for a reason too
        await wait_until(pilot, lambda: any("is now auto" in t for t in app.toasts))
        await wait_until(pilot, lambda: table.get_cell("openai", "mode").plain == "auto")
    actions = [e.action for e in await plane.audit.tail(5)]
    assert actions == ["breaker.trip", "breaker.force_close", "breaker.reset"]


async def test_audit_view_is_live_and_filterable(plane, plane_as, app_factory, settings):
    await plane.flags.create("f1")
    settings.ui.refresh_seconds = 600  # only the pub/sub event can bring the change in time
    app = _app(app_factory, "audit")
    async with app.run_test(size=SIZE) as pilot:
        table = app.view("audit").table
        await wait_until(pilot, lambda: len(table.painted) == 1)
        # a change by someone else shows at once (pub/sub), with who and when
        await plane_as("bob", "responder").flags.enable("f1", reason="go")
        await wait_until(pilot, lambda: len(table.painted) == 2, timeout=30)
        assert any(t.startswith("flag f1 enable by bob at") for t in app.toasts)
        newest = table.get_row_at(0)
        assert newest[1].plain == "bob" and newest[3].plain == "flag.enable"
        assert "enabled: off → on" in newest[5].plain
        await pilot.press("slash", *"create", "enter")
        await wait_until(pilot, lambda: len(table.painted) == 1)
        assert table.get_row_at(0)[3].plain == "flag.create"
        await pilot.press("escape")
        await wait_until(pilot, lambda: len(table.painted) == 2)


async def test_fleet_breaker_transitions_toast_open_and_closed_not_every_probe(plane, app_factory):
    import json

    app = _app(app_factory, "breakers")
    async with app.run_test(size=SIZE) as pilot:
        await app.wait_for_paint("breakers")
        await pilot.pause(0.3)  # subscribed
        # an outage: every failed half-open probe re-opens it, twelve times over
        for i, state in enumerate(("open", *("half_open", "open") * 11, "closed", "open")):
            event = {
                "entity": "breaker_state",
                "name": "openai",
                "action": f"breaker.{state}",
                "version": 0,
                "cp_version": 0,
                "actor": "agent",
                "ts": str(time.time() + i),  # one transition a second
            }
            await plane.redis.publish(plane.keys.events, json.dumps(event))

        def told() -> list[str]:
            return [t.split()[2] for t in app.toasts if t.startswith("breaker openai")]

        await wait_until(pilot, lambda: len(told()) >= 3, what="toasts")
        said = [t for t in app.toasts if t.startswith("breaker openai")]
        assert [t.split()[2] for t in said] == ["open", "closed", "open"]  # told once each
        assert not any("half_open" in t or "(v0)" in t for t in app.toasts)


async def test_the_same_toast_is_not_repeated(app_factory):
    app = _app(app_factory, "breakers")
    async with app.run_test(size=SIZE):
        await app.wait_for_paint("breakers")
        for _ in range(12):
            app.toast("flag f1 enable by bob")
        assert app.toasts == ["flag f1 enable by bob"]
        app._toast_last["flag f1 enable by bob"] = (0.0, 12)  # the window has passed
        app.toast("flag f1 enable by bob")
        assert app.toasts[-1] == "flag f1 enable by bob (again; 12 times in a row before)"


async def test_enter_on_an_audit_row_shows_before_and_after_in_words(plane, app_factory):
    """No JSON, no epoch seconds: the flag diff for flags, field by field for the rest."""
    from agentconsole.tui.audit_diff import AuditDiffScreen

    await plane.flags.create("planner-v2", enabled=True, rollout=5)
    await plane.flags.set_rollout("planner-v2", 50, reason="canary looks fine")
    await plane.breakers.trip("openai", for_seconds=900, reason="provider down")
    entries = {e.action: e for e in await plane.audit.tail(3)}
    app = _app(app_factory, "audit")
    async with app.run_test(size=SIZE) as pilot:
        table = app.view("audit").table
        await wait_until(pilot, lambda: len(table.painted) == 3)
        # the trip's row: the column shows the first whole fields, never a JSON document
        trip = entries["breaker.trip"]
        assert "{" not in table.get_cell(trip.id, "change").plain
        table.move_cursor(row=table.get_row_index(entries["flag.rollout"].id))
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, AuditDiffScreen))
        shown = "\n".join(str(w.render()) for w in app.screen.query("Static"))
        assert "flag.rollout planner-v2" in shown and "reason: canary looks fine" in shown
        assert "rollout: 5% → 50%" in shown and "by alice (admin)" in shown
        assert "Before" in shown and "After" in shown and "rollout: 50%" in shown
        assert "{" not in shown and "rollout_bp" not in shown and "changed_at" not in shown
        await pilot.press("escape")
        await wait_until(pilot, lambda: not isinstance(app.screen, AuditDiffScreen))
        table.move_cursor(row=table.get_row_index(trip.id))
        await pilot.press("d")  # the same from its key
        await wait_until(pilot, lambda: isinstance(app.screen, AuditDiffScreen))
        shown = "\n".join(str(w.render()) for w in app.screen.query("Static"))
        until = time.strftime("%H:%M:%S", time.gmtime(trip.after["until"]))
        assert "created" in shown and "mode: forced_open" in shown
        assert f"until: {until} UTC (15m later)" in shown and "(did not exist)" in shown
        assert str(int(trip.after["until"])) not in shown  # no epoch seconds
        await pilot.press("escape")
        await wait_until(pilot, lambda: not isinstance(app.screen, AuditDiffScreen))
        painted = app.paint_counts["audit"]
        await app.wait_for_paint("audit", painted + 1)  # refresh resumed after the dialog
