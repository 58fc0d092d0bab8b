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
        assert summary.startswith("60 agents · rows 1–10 by most cost")
        await pilot.press("s")  # next sort column: the window follows only indexed orders
        await pilot.pause()
        assert len(view.table.painted) <= 10


def summary_of(view) -> str:
    return str(view.query_one("#agents-summary").render())


async def test_down_past_the_page_loads_the_next_page_and_brackets_page(plane, app_factory):
    records = [AgentRecord(id=f"w{i:03d}", task="t", cost=i / 10) for i in range(25)]
    await plane.agents.write_many(records)
    app = app_factory(start_view="agents", clock=time.time, agent_limit=10)
    async with app.run_test(size=SIZE) as pilot:
        view = app.view("agents")
        table = view.table
        await wait_until(pilot, lambda: len(table.painted) == 10, what="the first page")
        await pilot.press("pagedown", "pagedown")  # to the page's last row, then past it
        await wait_until(pilot, lambda: "w014" in table.painted, what="the second page")
        assert set(table.painted) == {f"w{i:03d}" for i in range(5, 15)}
        assert table.cursor_key == "w014"  # the page's first row: the next agent by cost
        assert "rows 11–20 by most cost" in summary_of(view)
        await pilot.press("up")  # past the page's first row: back to the first page
        await wait_until(pilot, lambda: "w024" in table.painted, what="the first page again")
        assert table.cursor_key == "w015"
        await pilot.press("right_square_bracket", "right_square_bracket")
        await wait_until(pilot, lambda: "w000" in table.painted, what="the third page")
        assert len(table.painted) == 5 and "rows 21–25" in summary_of(view)
        await pilot.press("left_square_bracket")
        await wait_until(pilot, lambda: "w014" in table.painted, what="the second page again")
        assert table.cursor_key == "w005"  # a page back: its last row


async def test_end_reaches_the_last_agent_of_100001_and_home_the_first(plane, app_factory):
    plane.settings.registry.dead_after_seconds = 3600  # a busy machine fills slowly
    n, batch = 100_001, 2000
    for start in range(0, n, batch):
        rows = [
            AgentRecord(id=f"s{i:06d}", tenant=f"t{i // 250:04d}", cost=i / 1000)
            for i in range(start, min(n, start + batch))
        ]
        await plane.agents.write_many(rows)
    app = app_factory(start_view="agents", clock=time.time, agent_limit=200)
    async with app.run_test(size=SIZE) as pilot:
        view = app.view("agents")
        table = view.table
        await wait_until(pilot, lambda: table.cursor_key == "s100000", 30, "the first page")
        assert summary_of(view).startswith("100,001 agents · rows 1–200 by most cost")
        await pilot.press("end")
        await wait_until(pilot, lambda: table.cursor_key == "s000000", 30, "the last agent")
        assert len(table.painted) == 200
        assert "rows 99,802–100,001 by most cost" in summary_of(view)
        await pilot.press("pageup")  # from the last row: a screen up, within the page
        await pilot.press("home")
        await wait_until(pilot, lambda: table.cursor_key == "s100000", 30, "the first agent")
        await pilot.press("slash", *"tenant:t0123", "enter")
        expected = {f"s{i:06d}" for i in range(123 * 250, 124 * 250)}
        await wait_until(pilot, lambda: set(table.painted) <= expected, 30, "the tenant")
        assert len(table.painted) == 200  # a page of the tenant's 250, read from its index
        assert summary_of(view).startswith("250 agents with tenant t0123 · rows 1–200")
        await pilot.press("end")
        await wait_until(pilot, lambda: table.cursor_key == "s030750", 30, "the tenant's last")
        assert set(table.painted) <= expected


async def test_the_cursor_keeps_its_row_on_a_later_page_while_the_page_reorders(
    plane, app_factory, settings
):
    settings.ui.refresh_seconds = 0.2
    records = [AgentRecord(id=f"w{i:03d}", task="t", cost=i / 10) for i in range(30)]
    await plane.agents.write_many(records)
    app = app_factory(start_view="agents", clock=time.time, agent_limit=10)
    async with app.run_test(size=SIZE) as pilot:
        view = app.view("agents")
        table = view.table
        await wait_until(pilot, lambda: len(table.painted) == 10, what="the first page")
        await pilot.press("right_square_bracket")
        await wait_until(pilot, lambda: "w019" in table.painted, what="the second page")
        table.move_cursor(row=table.get_row_index("w016"))
        for rec in records[10:20]:  # the page's costs reversed: every row moves, none leaves
            rec.cost = (29 - int(rec.id[1:])) / 10
        await plane.agents.write_many(records[10:20])
        painted = app.paint_counts.get("agents", 0)
        await wait_until(pilot, lambda: app.paint_counts.get("agents", 0) > painted + 1)
        assert set(table.painted) == {f"w{i:03d}" for i in range(10, 20)}
        assert table.get_row_index("w010") == 0  # the order changed under the cursor
        assert table.cursor_key == "w016" and "rows 11–20" in summary_of(view)


async def test_steps_and_age_sort_the_fleet_and_other_columns_say_they_sort_the_page(
    plane, app_factory
):
    now = time.time()
    records = [
        AgentRecord(
            id=f"w{i:03d}",
            task="t",
            user=f"u{i % 5}",
            cost=i / 10,
            steps=(i * 7) % 60,
            started_at=now - 1000 + (i * 11) % 60,
            status="finished" if i % 4 == 0 else "running",
        )
        for i in range(60)
    ]
    await plane.agents.write_many(records)

    def top(key, reverse=True, only=None):
        chosen = [r for r in records if only is None or r.status == only]
        return {r.id for r in sorted(chosen, key=key, reverse=reverse)[:10]}

    app = app_factory(start_view="agents", clock=time.time, agent_limit=10)
    async with app.run_test(size=SIZE) as pilot:
        view = app.view("agents")
        table = view.table
        await wait_until(pilot, lambda: len(table.painted) == 10, what="the first page")
        table.sort_by("steps")  # most steps first: the fleet's, not the page's
        view.console.poll_now()
        want = top(lambda r: r.steps)
        await wait_until(pilot, lambda: set(table.painted) == want, what="top 10 by steps")
        assert "rows 1–10 by most steps" in summary_of(view)
        table.sort_by("age")  # oldest first: the earliest started over the fleet
        view.console.poll_now()
        want = top(lambda r: r.started_at, reverse=False)
        await wait_until(pilot, lambda: set(table.painted) == want, what="the 10 oldest")
        assert "oldest first" in summary_of(view)
        table.sort_by("user")
        view.update_summary()
        assert "sorted by user ↑ within this page only" in summary_of(view)
        table.sort_by("cost")
        await pilot.press("slash", *"status:running", "enter")
        want = top(lambda r: r.cost, only="running")
        await wait_until(pilot, lambda: set(table.painted) == want, what="top 10 running")
        assert summary_of(view).startswith("up to 45 agents with status running · rows 1–10")
