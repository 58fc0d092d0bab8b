"""A kill or drain whose document does not parse: the header names it "(unreadable)" and the
Agents view's own lift keys (l, u) lift it, audited, against a real Redis."""

import time

from agentconsole.control.registry import AgentRecord
from tests.tui.conftest import confirm, wait_until


async def test_unreadable_kill_and_drain_show_in_the_header_and_lift_with_l_and_u(
    plane, app_factory
):
    await plane.agents.register(AgentRecord(id="a1", tenant="acme", status="running"))
    await plane.redis.hset(plane.keys.kills, "tenant:acme", b"{not json")
    await plane.redis.hset(plane.keys.holds, "drain:all", b"\x1b[2J garbage")
    app = app_factory(start_view="agents", clock=time.time)
    async with app.run_test(size=(160, 45)) as pilot:
        view = app.view("agents")

        def header() -> str:
            return str(app.query_one("#header").render())

        await wait_until(pilot, lambda: "a1" in view.table.painted, what="agent row")
        await wait_until(pilot, lambda: "⛔ kills in force: tenant:acme (unreadable)" in header())
        assert "⏸ in force: drain all (unreadable)" in header()
        view.table.move_cursor(row=view.table.get_row_index("a1"))
        await pilot.press("enter")  # the agent's detail names them too
        await wait_until(pilot, lambda: getattr(app.screen, "detail", None) is not None)
        shown = str(app.screen.query_one("#agent-detail").render())
        assert "tenant:acme (unreadable) in force" in shown
        assert "drain all (unreadable)" in shown
        await pilot.press("escape")
        await wait_until(pilot, lambda: not hasattr(app.screen, "detail"), what="back")

        await pilot.press("l")  # the kill over the selected agent: its tenant's
        await confirm(pilot, reason="corrupt entry")
        await wait_until(pilot, lambda: any("kill of tenant acme lifted" in t for t in app.toasts))
        await pilot.press("u")
        await confirm(pilot, reason="corrupt entry")
        await wait_until(pilot, lambda: any("drain of every agent lifted" in t for t in app.toasts))
        await wait_until(pilot, lambda: "in force" not in header(), 30, what="header cleared")
        assert app.is_running  # the UI kept working throughout
    assert await plane.redis.hlen(plane.keys.kills) == 0
    assert await plane.redis.hlen(plane.keys.holds) == 0
    entries = await plane.audit.tail(10)
    assert [(e.action, e.before["unreadable"]) for e in entries] == [
        ("kill.lift", "not valid JSON"),
        ("drain.lift", "not valid JSON"),
    ]
    assert "\x1b" not in entries[1].before["stored"]  # the one sanitiser


async def test_l_lifts_the_one_unreadable_kill_even_when_no_row_is_of_its_scope(plane, app_factory):
    """A kill of an agent the registry does not have (a buggy writer's) has no row to
    select: `l` lifts the one kill in force, after the dialog names it."""
    await plane.redis.hset(plane.keys.kills, "agent:ghost", b"[]")
    app = app_factory(start_view="agents", clock=time.time)
    async with app.run_test(size=(160, 45)) as pilot:
        header = lambda: str(app.query_one("#header").render())  # noqa: E731
        await wait_until(pilot, lambda: "kills in force: agent:ghost (unreadable)" in header())
        await pilot.press("l")
        await confirm(pilot, reason="corrupt entry")
        await wait_until(pilot, lambda: any("kill of agent ghost lifted" in t for t in app.toasts))
    assert await plane.redis.hlen(plane.keys.kills) == 0
