"""The operator's tasks at 3 a.m., counted in keys (issue 14's goals), and rows that keep
their identity under the cursor while the fleet re-sorts them between key presses.

Keys are counted as an operator presses them; the reason text typed into a dialog is not
counted (every change asks for one), the key that confirms it is.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from textual.widgets import Input

from agentconsole.control.registry import AgentRecord
from agentconsole.tui.modals import ConfirmScreen
from tests.tui.conftest import T0, fleet, make_app, seed_agents, wait_until

SIZE = (160, 45)
ROOT = Path(__file__).resolve().parents[2]


async def wait_for_reason_field(app, pilot) -> None:
    """The dialog is up and its reason field has the focus (typing goes there)."""

    def ready() -> bool:
        focused = app.focused
        return isinstance(app.screen, ConfirmScreen) and getattr(focused, "id", "") == "reason"

    await wait_until(pilot, ready, 30, what="the dialog's reason field")


def dialog_targets(app) -> str:
    from textual.widgets import Static

    box = app.screen.query_one("#confirm-targets")
    return " ".join(str(w.render()) for w in box.query(Static))


class Keys:
    """Presses keys through the pilot, counting them (typed reasons are not counted)."""

    def __init__(self, pilot) -> None:
        self.pilot, self.count = pilot, 0

    async def press(self, *keys: str) -> None:
        self.count += len(keys)
        await self.pilot.press(*keys)

    async def type(self, text: str) -> None:
        await self.pilot.press(*text)


async def test_kill_a_runaway_agent_from_the_overview_in_two_keys(settings, plane):
    """k on the TOP RUNAWAY AGENTS row, a reason, ctrl+y: the goal is 3 keys + reason."""
    await seed_agents(plane, fleet())  # agent-003: 77 steps of 50, a runaway
    app = make_app(settings, start_view="overview")
    async with app.run_test(size=SIZE) as pilot:
        overview = app.view("overview")
        runaway = overview.runaway_table
        await wait_until(pilot, lambda: "agent-003" in runaway.painted, what="runaway row")
        keys = Keys(pilot)
        await keys.press("k")
        await wait_for_reason_field(app, pilot)
        assert "agent-003" in dialog_targets(app)
        await keys.type("loops on refunds")
        await keys.press("ctrl+y")
        await wait_until(pilot, lambda: any("killed 1 agent" in t for t in app.toasts), 30)
        assert keys.count <= 3
    kills, _ = await plane.kills.list()
    assert set(kills) == {"agent:agent-003"}
    (entry,) = [e for e in await plane.audit.tail(5) if e.action == "kill.agent"]
    assert entry.reason == "loops on refunds"


async def test_the_kill_dialog_names_the_row_the_cursor_was_on_while_rows_resort(settings, plane):
    """Churn: between key presses every agent's cost changes, so the cost-sorted table
    re-orders on each refresh; the cursor follows its row, and k names that row."""
    settings.ui.refresh_seconds = 0.2
    records = [
        AgentRecord(id=f"a{i:02d}", tenant="acme", cost=float(i), started_at=T0 - 60)
        for i in range(12)
    ]
    await seed_agents(plane, records)
    app = make_app(settings, start_view="agents", clock=lambda: T0)
    async with app.run_test(size=SIZE) as pilot:
        table = app.view("agents").table
        await wait_until(pilot, lambda: len(table.painted) == 12, what="rows")
        table.sort_by("cost")  # most expensive first
        table.move_cursor(row=3)
        chosen = table.cursor_key
        places = {table.get_row_index(chosen)}
        for round_ in range(3):
            # reverse the costs: the chosen row moves to the other end of the table
            for i, rec in enumerate(records):
                rec.cost = float(i if round_ % 2 else len(records) - i)
                await plane.agents.heartbeat(rec)
            painted = app.paint_counts.get("agents", 0)
            await wait_until(pilot, lambda p=painted: app.paint_counts.get("agents", 0) > p + 1)
            assert table.cursor_key == chosen, f"round {round_}: the cursor left its row"
            places.add(table.get_row_index(chosen))
            await pilot.press("down", "up")  # the operator moves on and back
            assert table.cursor_key == chosen
        assert len(places) > 1, "the rows never moved: no churn was tested"
        await pilot.press("k")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="dialog")
        targets = dialog_targets(app)
        assert chosen in targets and targets.count("a0") + targets.count("a1") == 1
        await pilot.press("escape")


async def test_runaway_rows_keep_their_identity_on_the_overview(settings, plane):
    await seed_agents(plane, fleet())
    app = make_app(settings, start_view="overview", clock=time.time)
    async with app.run_test(size=SIZE) as pilot:
        runaway = app.view("overview").runaway_table
        await wait_until(pilot, lambda: "agent-003" in runaway.painted, what="runaway row")
        assert runaway.cursor_key == "agent-003"


async def test_fresh_alert_to_its_mitigation_in_four_keys_and_verify_in_one(
    settings, plane, prometheus
):
    """A breaker opens (a fresh alert, the newest warning under the one critical alert):
    Down, Enter (its runbook, at the mitigation), a, ctrl+y: the breaker is tripped and
    audited. Then v: the Verify step."""
    from agentconsole.tui.modals import ConfirmScreen
    from agentconsole.tui.runbook_view import RunbookScreen
    from tests.fixtures import prometheus as known

    settings.prometheus.url = prometheus.url
    settings.runbooks_dir = str(ROOT / "runbooks")
    settings.ui.refresh_seconds = 0.5
    app = make_app(settings, start_view="overview", clock=time.time, metrics=True)
    known.BREAKERS["search"] = 2.0  # the search dependency's breaker opens now
    try:
        async with app.run_test(size=SIZE) as pilot:
            overview = app.view("overview")
            table = overview.table

            def fresh_is_second() -> bool:
                order = list(table.order)
                alert = overview.alerts.get(order[1]) if len(order) > 1 else None
                return alert is not None and alert.labels.get("dependency") == "search"

            await wait_until(pilot, fresh_is_second, 30, what="the fresh breaker alert")
            top = overview.alerts[table.order[0]]
            assert top.severity == "critical"  # most severe first, then the newest
            table.focus()
            table.move_cursor(row=0)
            keys = Keys(pilot)
            await keys.press("down", "enter")
            await wait_until(pilot, lambda: isinstance(app.screen, RunbookScreen), 30)
            screen = app.screen
            await wait_until(pilot, lambda: screen._placed, 30, what="the runbook placed")
            assert screen.step.has_actions, screen.step.title
            await keys.press("a")
            await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen), 30)
            assert str(app.screen.query_one("#confirm-title").render()) == (
                "breaker trip search for 15m"
            )
            await keys.press("ctrl+y")
            await wait_until(
                pilot, lambda: "done:" in str(screen.query_one("#rb-status").render()), 30
            )
            assert keys.count <= 4
            keys.count = 0
            await keys.press("v")
            await wait_until(pilot, lambda: screen.step.is_verify, 30, what="the Verify step")
            assert keys.count <= 1
    finally:
        known.BREAKERS["search"] = 0.0
    mode = await plane.breakers.get("search")
    assert mode is not None and mode.mode == "forced_open"
    (trip,) = [e for e in await plane.audit.tail(10) if e.action == "breaker.trip"]
    assert trip.target == "search" and "runbook provider-outage" in trip.reason


async def eventually(check, timeout: float = 30.0):
    """Poll an async ``check`` (a control-plane read) until it returns something true."""
    import asyncio

    deadline = time.monotonic() + timeout
    while not (result := await check()):
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.1)
    return result


async def wait_for_first_field(app, pilot) -> None:
    """The dialog is up and its first field has the focus."""
    from textual.widgets import Input

    def ready() -> bool:
        return isinstance(app.screen, ConfirmScreen) and isinstance(app.focused, Input)

    await wait_until(pilot, ready, 30, what="the dialog's first field")


async def test_trip_openai_for_15m_then_back_to_auto_every_change_with_a_reason(settings, plane):
    """t, 15m, Enter, a reason, Enter (3 keys); then r, a reason, Enter (2 keys)."""
    await plane.redis.hset(plane.keys.breaker_state, "openai", '{"state": "closed"}')
    app = make_app(settings, start_view="breakers", clock=time.time)
    async with app.run_test(size=SIZE) as pilot:
        table = app.view("breakers").table
        await wait_until(pilot, lambda: "openai" in table.painted, what="breaker row")
        keys = Keys(pilot)
        await keys.press("t")
        await wait_for_first_field(app, pilot)
        await keys.type("15m")
        await keys.press("enter")  # to the reason
        await keys.type("provider down")
        await keys.press("enter")  # the last field: confirms

        async def tripped():
            mode = await plane.breakers.get("openai")
            return mode if mode is not None and mode.mode == "forced_open" else None

        mode = await eventually(tripped)
        assert 890 < mode.until - time.time() <= 900
        assert keys.count <= 4
        keys.count = 0
        await wait_until(pilot, lambda: not isinstance(app.screen, ConfirmScreen), 30)
        await keys.press("r")
        await wait_for_first_field(app, pilot)
        title = str(app.screen.query_one("#confirm-title").render())
        assert title == "Reset breaker openai to automatic: the agents' failure counting decides"
        detail = str(app.screen.query_one("#confirm-detail").render())
        assert detail.startswith("Ends forced_open, set ") and detail.endswith(": provider down")
        await keys.type("provider recovered")
        await keys.press("enter")

        async def automatic():
            mode = await plane.breakers.get("openai")
            return mode is None or mode.mode == "auto"

        await eventually(automatic)
        assert keys.count <= 4
    reasons = [(e.action, e.reason) for e in await plane.audit.tail(2)]
    assert reasons == [
        ("breaker.trip", "provider down"),
        ("breaker.reset", "provider recovered"),
    ]


async def test_canary_5_50_0_in_three_keys_a_step(settings, plane):
    """o, the percentage, Enter, a reason, Enter: 3 keys per step, each audited."""
    await plane.flags.create("new-planner", enabled=True, rollout=0)
    app = make_app(settings, start_view="flags", clock=time.time)
    async with app.run_test(size=SIZE) as pilot:
        table = app.view("flags").table
        await wait_until(pilot, lambda: "new-planner" in table.painted, what="flag row")
        table.move_cursor(row=table.get_row_index("new-planner"))
        for percent, bp in (("5", 500), ("50", 5000), ("0", 0)):
            keys = Keys(pilot)
            await keys.press("o")
            await wait_for_first_field(app, pilot)
            await keys.type(percent)
            await keys.press("enter")  # to the reason
            await keys.type(f"canary to {percent}%")
            await keys.press("enter")  # the last field: confirms

            async def rolled(b=bp):
                return (await plane.flags.get("new-planner")).rollout_bp == b

            await eventually(rolled)
            await wait_until(pilot, lambda: not isinstance(app.screen, ConfirmScreen), 30)
            assert keys.count <= 3
    reasons = [e.reason for e in await plane.audit.tail(3)]
    assert reasons == ["canary to 5%", "canary to 50%", "canary to 0%"]


async def test_kills_in_force_are_visible_and_liftable(settings, plane):
    """A kill stays in force (new runs of its scope are stopped with the old reason): the
    header says so on every view until it is lifted (l on the row, a reason, Enter)."""
    await seed_agents(plane, fleet())
    await plane.kills.kill(agent="agent-001", reason="loop")
    settings.ui.refresh_seconds = 0.3
    app = make_app(settings, start_view="overview", clock=time.time)
    async with app.run_test(size=SIZE) as pilot:

        def header() -> str:
            return str(app.query_one("#header").render())

        await wait_until(pilot, lambda: "kills in force: agent:agent-001" in header(), 30)
        await pilot.press("2")
        table = app.view("agents").table
        await wait_until(pilot, lambda: "agent-001" in table.painted, 30, what="row")
        table.move_cursor(row=table.get_row_index("agent-001"))
        keys = Keys(pilot)
        await keys.press("l")
        await wait_for_first_field(app, pilot)
        await keys.type("loop fixed")
        await keys.press("enter")
        await wait_until(pilot, lambda: "kills in force" not in header(), 30, what="lifted")
        assert keys.count <= 2
    kills, _ = await plane.kills.list()
    assert kills == {}


async def test_recent_changes_on_the_overview_read_as_sentences(settings, plane):
    from agentconsole.tui.audit_diff import AuditDiffScreen

    await plane.flags.create("new-planner", enabled=True, rollout=0)
    await plane.flags.set_rollout("new-planner", 5, reason="canary")
    app = make_app(settings, start_view="overview", clock=time.time)
    async with app.run_test(size=SIZE) as pilot:
        table = app.view("overview").query_one("#recent-table")

        def recent() -> list[str]:
            return [table.get_row_at(i)[0].plain for i in range(table.row_count)]

        await wait_until(pilot, lambda: any("flag.rollout" in r for r in recent()), 30)
        first = recent()[0]  # newest first
        assert "alice flag.rollout new-planner" in first and first.endswith("— canary")
        assert "{" not in "".join(recent()) and "flag.create new-planner" in recent()[1]
        # enter on a change: its before and after, as in the Audit view
        table.focus()
        table.move_cursor(row=0)
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, AuditDiffScreen))
        assert app.screen.entry.action == "flag.rollout"
        await pilot.press("escape")
        await wait_until(pilot, lambda: not isinstance(app.screen, AuditDiffScreen))


@pytest.mark.parametrize("size", [(80, 24), (160, 45)])
async def test_the_ladder_in_keys_drain_a_tenant_pause_all_resume(settings, plane, size):
    """Issue 14's ladder at both tested sizes: drain globex from its row (d, a reason, Enter:
    2 keys), pause every agent from the : line (:, Enter, a reason, Enter: 3 keys), resume
    from any row (r, a reason, Enter: 2 keys). The resume dialog says what it lifts and who
    set it, and asks only the reason (it asked a meaningless "name" for "all")."""
    await seed_agents(plane, fleet(), heartbeat_ago=0)
    app = make_app(settings, start_view="agents", clock=time.time, ack_timeout=0.2)
    async with app.run_test(size=size) as pilot:
        table = app.view("agents").table
        await wait_until(pilot, lambda: "agent-003" in table.painted, what="agent rows")
        table.move_cursor(row=table.get_row_index("agent-003"))  # globex's runaway
        keys = Keys(pilot)
        await keys.press("d")
        await wait_for_reason_field(app, pilot)
        assert "Drain tenant globex" in str(app.screen.query_one("#confirm-title").render())
        await keys.type("refund loop burns money")
        await keys.press("enter")
        await wait_until(pilot, lambda: any("draining tenant globex" in t for t in app.toasts))
        assert keys.count <= 2

        keys.count = 0
        await wait_until(pilot, lambda: not isinstance(app.screen, ConfirmScreen))
        await keys.press("colon")
        await keys.type("pause all")
        await keys.press("enter")
        await wait_for_reason_field(app, pilot)
        await keys.type("provider outage")
        await keys.press("enter")
        await wait_until(pilot, lambda: any("pausing every agent" in t for t in app.toasts))
        assert keys.count <= 3

        keys.count = 0
        await wait_until(pilot, lambda: "pause:all" in app.view("agents").holds, 30)
        await wait_until(pilot, lambda: not isinstance(app.screen, ConfirmScreen))
        await keys.press("r")
        await wait_for_reason_field(app, pilot)
        screen = app.screen
        title = str(screen.query_one("#confirm-title").render())
        assert title == "Resume every agent: held runs continue"
        detail = str(screen.query_one("#confirm-detail").render())
        assert detail.startswith("In force since") and detail.endswith(": provider outage"), detail
        assert [i.id for i in screen.query(Input)] == ["reason"]  # no "name" for all
        assert screen.query_one("#confirm").region.bottom <= size[1]
        await keys.type("provider back")
        await keys.press("enter")
        await wait_until(pilot, lambda: any("pause of every agent lifted" in t for t in app.toasts))
        assert keys.count <= 2
    holds, _ = await plane.holds.list()
    assert set(holds) == {"drain:tenant:globex"}
    actions = [(e.action, e.reason) for e in await plane.audit.tail(3)]
    assert actions == [
        ("drain.tenant", "refund loop burns money"),
        ("pause.all", "provider outage"),
        ("pause.lift", "provider back"),
    ]
