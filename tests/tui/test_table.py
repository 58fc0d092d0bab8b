"""LiveTable: keyed refreshes keep rows unique, cells current, cursor and marks in place."""

import random

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


async def test_random_refreshes_stay_consistent():
    rnd = random.Random(7)
    app = TableApp()
    async with app.run_test(size=(60, 20)) as pilot:
        table = app.query_one(LiveTable)
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
