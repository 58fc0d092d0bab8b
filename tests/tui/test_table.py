"""LiveTable: keyed refreshes keep rows unique, cells current, cursor and marks in place."""

import random

import pytest
from textual.app import App

from agentconsole.tui.safe import cell
from agentconsole.tui.table import Column, LiveTable, Row, build_filter, make_plan

COLUMNS = [Column("id", "ID", 8), Column("n", "N", 5, numeric=True), Column("t", "T", 6)]


def rows(values: dict[str, int]) -> list[Row]:
    return [
        Row(k, (cell(k, 8), cell(v, 5, sort_key=v), cell("x" * (v % 4), 6)), k)
        for k, v in values.items()
    ]


class TableApp(App):
    def compose(self):
        yield LiveTable(COLUMNS, markable=True)


def shown(table: LiveTable) -> list[str]:
    return [table.get_row_at(i)[1].plain for i in range(table.row_count)]


@pytest.mark.parametrize("fast", [True, False], ids=["internals", "public-api"])
async def test_random_refreshes_stay_consistent(fast):
    rnd = random.Random(7)
    app = TableApp()
    async with app.run_test(size=(60, 20)) as pilot:
        table = app.query_one(LiveTable)
        assert table.fast  # this Textual has the internals the fast path writes
        table.fast = fast
        table.sort_column, table.sort_reverse = "n", True
        for step in range(60):
            keys = rnd.sample([f"k{i}" for i in range(120)], rnd.randint(0, 120))
            values = {k: rnd.randint(0, 50) for k in keys}
            if step % 3 == 0:  # a plan made on the I/O thread against the current screen
                table.apply(make_plan(rows(values), table.plan_base()))
            else:
                table.set_rows(rows(values))
            if step % 7 == 0:
                table.set_filter("k1" if step % 2 else "")
            await pilot.pause()
            match = build_filter(table.filter_text)
            expected = {k for k in values if match is None or match(k)}
            order = shown(table)
            assert len(order) == len(set(order)) == table.row_count
            assert set(order) == expected == set(table.painted)
            for key in order:
                assert table.get_cell(key, "n").plain == str(values[key])
            ns = [values[k] for k in order]
            assert ns == sorted(ns, reverse=True)
            assert list(table.order) == order


async def test_cursor_and_marks_survive_refresh_and_resort():
    app = TableApp()
    async with app.run_test(size=(60, 20)) as pilot:
        table = app.query_one(LiveTable)
        table.sort_column, table.sort_reverse = "n", True
        table.set_rows(rows({"a": 3, "b": 2, "c": 1}))
        await pilot.pause()
        table.move_cursor(row=table.get_row_index("b"))
        table.toggle_mark()  # marks b, moves on to c
        assert table.marked == {"b"} and table.cursor_key == "c"
        table.set_rows(rows({"a": 3, "b": 2, "c": 9}))  # c jumps to the top
        await pilot.pause()
        assert shown(table) == ["c", "a", "b"] and table.cursor_key == "c"
        assert table.get_cell("b", "_mark").plain == "●"
        table.set_rows(rows({"a": 3, "c": 9}))  # b is gone: so is its mark
        assert table.marked == set()


def test_stale_plan_is_recomputed():
    base_rows = rows({"a": 1})
    plan = make_plan(base_rows, LiveTable(COLUMNS).plan_base())
    assert plan.added == ["a"] and not plan.changed and plan.order == ("a",)


async def test_unchanged_order_touches_nothing_and_offscreen_changes_do_not_repaint():
    app = TableApp()
    async with app.run_test(size=(60, 12)) as pilot:
        table = app.query_one(LiveTable)
        table.sort_column = "id"
        values = {f"k{i:03d}": i for i in range(200)}
        table.set_rows(rows(values))
        await pilot.pause()
        count, locations = table._update_count, table._row_locations
        repaints = []
        original = table.repaint
        table.repaint = lambda redraw=True: repaints.append(redraw)  # type: ignore[method-assign]
        values["k150"] = 7  # off screen; "n" is not the sort column
        plan = make_plan(rows(values), table.plan_base())
        assert plan.order is None and plan.changed == {"k150"}
        table.apply(plan)
        assert repaints == [False] and table.get_cell("k150", "n").plain == "7"
        values["k001"] = 9  # on screen
        table.set_rows(rows(values))
        assert repaints == [False, True]
        table.repaint = original  # type: ignore[method-assign]
        # the table's row index and update counter were never rebuilt
        assert table._update_count == count and table._row_locations is locations


async def test_sort_by_keeps_cursor_row_and_marks():
    app = TableApp()
    async with app.run_test(size=(60, 20)) as pilot:
        table = app.query_one(LiveTable)
        table.set_rows(rows({"a": 1, "b": 3, "c": 2}))
        await pilot.pause()
        assert shown(table) == ["a", "b", "c"]  # no sort column: arrival order
        table.move_cursor(row=table.get_row_index("c"))
        table.toggle_mark()
        assert table.sort_by("n") == "n"  # numeric: biggest first
        assert shown(table) == ["b", "c", "a"] and table.cursor_key == "c"  # last row: stays
        assert table.get_cell("c", "_mark").plain == "●"
        table.sort_by("n")
        assert shown(table) == ["a", "c", "b"]
        stale = make_plan(rows({"a": 1, "b": 3, "c": 2, "d": 0}), table.plan_base())
        table.sort_by("id")
        table.apply(stale)  # made before the sort: recomputed
        assert shown(table) == ["a", "b", "c", "d"]
        table.clear_marks()
        assert table.get_cell("c", "_mark").plain == ""


def screen_text(table: LiveTable) -> str:
    return "\n".join(table.render_line(y).text for y in range(table.size.height))


async def test_a_row_changed_off_screen_is_current_when_scrolled_back():
    app = TableApp()
    async with app.run_test(size=(60, 12)) as pilot:
        table = app.query_one(LiveTable)
        table.sort_column = "id"
        values = {f"k{i:03d}": i for i in range(200)}
        table.set_rows(rows(values))
        await pilot.pause()
        table.scroll_to(y=150, animate=False)
        await pilot.pause()
        assert "k150" in screen_text(table)  # rendered (and cached) once
        table.scroll_to(y=0, animate=False)
        await pilot.pause()
        values["k150"] = 4321
        table.set_rows(rows(values))
        table.scroll_to(y=150, animate=False)
        await pilot.pause()
        assert "4321" in screen_text(table)
