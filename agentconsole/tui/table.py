"""A DataTable that is refreshed by key, at a UI-thread cost that does not grow with the fleet.

Why: an operator reads a table while it refreshes. Clearing and re-adding rows would
lose the cursor, the scroll position and the marks; and with 10,000 agents, anything the
UI thread does per row or per cell on every refresh shows up as a frozen screen.

So the work is split:

- :func:`make_plan` (a pure function, run by the loader on the I/O thread) diffs the new
  rows against a snapshot of the screen (:meth:`LiveTable.plan_base`): which rows are new,
  gone or changed, and, only when that can change it, the new display order (filter and
  sort applied there, not on the UI thread).
- The DataTable never holds the cell values. Each of its cells is a :class:`CellRef`
  (made once, when its row first appears) that renders whatever ``LiveTable.painted``
  holds for it now. Applying a plan whose order is unchanged is then O(1) on the UI
  thread: swap ``painted``, and repaint only if a changed row is on screen. DataTable
  renders only the visible rows, so only those ever become ``rich.text.Text``.
- When rows come, go or move, the table's row index is rebuilt once from the plan's
  order (``DataTable.remove_row`` rebuilds it per removed row, ``DataTable.sort``
  re-reads every row through Python-level key objects).

If the screen changed after the plan was made (a filter typed, a new sort), the plan is
stale and is recomputed on the UI thread. The fast path writes DataTable internals
(``_data``, ``rows``, ``_row_locations``); if a Textual release renames them, the table
falls back to the public API (slower, same behaviour).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import DataTable

from agentconsole.tui.safe import Cell, CellSpec, to_cell

MARK = "●"
Match = Callable[[str], bool]


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    width: int
    numeric: bool = False


@dataclass
class Row:
    """One row as a loader builds it: plain cell specs, comparable and thread-safe."""

    key: str
    cells: tuple[CellSpec, ...]
    search: str  # lower-case text the `/` filter matches against


@dataclass(frozen=True)
class PlanBase:
    """What is on screen, captured on the UI thread; read-only on the I/O thread."""

    generation: int
    painted: dict[str, tuple[CellSpec, ...]]
    match: Match | None
    columns: tuple[str, ...]
    sort_index: int
    order: tuple[str, ...] = ()  # painted keys, top to bottom
    sort_reverse: bool = False
    # what the screen dropped since the last plan: freed by make_plan, on the I/O thread
    retired: list[Any] = field(default_factory=list)


@dataclass
class Plan:
    generation: int
    all_rows: dict[str, Row]
    painted: dict[str, tuple[CellSpec, ...]]
    added: list[str] = field(default_factory=list)
    gone: list[str] = field(default_factory=list)
    changed: set[str] = field(default_factory=set)  # rows with a changed cell
    order: tuple[str, ...] | None = None  # new display order; None: unchanged


def sort_value(raw: Any) -> tuple[int, Any]:
    """Numbers before text, so a mixed column never raises TypeError; a tuple of numbers
    (several criteria, e.g. state, severity, age) sorts element by element."""
    if isinstance(raw, int | float):
        return (0, raw)
    if isinstance(raw, tuple):
        return (2, raw)
    return (1, str(raw))


def ordered(
    keys: list[str] | tuple[str, ...],
    painted: dict[str, tuple[CellSpec, ...]],
    sort_index: int,
    reverse: bool,
) -> list[str]:
    """``keys`` sorted by one column; stable, so equal rows keep their place on screen."""
    if sort_index < 0:
        return list(keys)
    return sorted(keys, key=lambda k: sort_value(painted[k][sort_index].sort_key), reverse=reverse)


def make_plan(rows: list[Row], base: PlanBase) -> Plan:
    """Diff ``rows`` against the screen and order them: pure, so it may run on any thread."""
    all_rows = {r.key: r for r in rows}
    match, old_painted, sort_index = base.match, base.painted, base.sort_index
    painted: dict[str, tuple[CellSpec, ...]] = {}
    plan = Plan(base.generation, all_rows, painted)
    added, changed = plan.added, plan.changed
    resort = False
    for row in rows:
        if match is not None and not match(row.search):
            continue
        key, cells = row.key, row.cells
        if key in painted:
            continue  # a duplicate key: the first row wins
        painted[key] = cells
        old = old_painted.get(key)
        if old is None:
            added.append(key)
        elif old is not cells and old != cells:
            changed.add(key)
            if sort_index >= 0 and old[sort_index] != cells[sort_index]:
                resort = True
    if len(painted) - len(added) != len(old_painted):
        plan.gone = [k for k in old_painted if k not in painted]
    if added or plan.gone or resort:
        keys: list[str] | tuple[str, ...] = base.order
        if added or plan.gone:
            keys = [k for k in base.order if k in painted] + added
        if added or resort:
            keys = ordered(keys, painted, sort_index, base.sort_reverse)
        order = tuple(keys)
        plan.order = None if order == base.order else order
    # Freeing the previous refresh (some 100,000 objects at 10,000 agents) is real work:
    # done here, it is off the UI thread when the loader calls this.
    base.retired.clear()
    return plan


def build_filter(pattern: str) -> Match | None:
    """k9s-style filter: a regex (a plain substring if it is not one); ``!`` inverts."""
    pattern = pattern.strip()
    if not pattern:
        return None
    invert = pattern.startswith("!")
    body = pattern[1:] if invert else pattern
    try:
        match: Match = re.compile(body, re.IGNORECASE).search  # type: ignore[assignment]
    except re.error:
        needle = body.lower()

        def match(s: str) -> bool:
            return needle in s

    if invert:
        return lambda s: not match(s)
    return lambda s: bool(match(s))


class CellRef:
    """A DataTable cell that shows what its table paints now for (row, column).

    Made once per row; a refresh replaces ``LiveTable.painted`` and never touches these.
    ``__rich__`` builds the Text only when DataTable renders the cell (visible rows).
    """

    __slots__ = ("index", "key", "table")

    def __init__(self, table: LiveTable, key: str, index: int) -> None:
        self.table, self.key, self.index = table, key, index

    @property
    def spec(self) -> CellSpec:
        if self.index < 0:  # the mark column
            return CellSpec(MARK if self.key in self.table.marked else "", "bold magenta", "")
        cells = self.table.painted.get(self.key)
        return cells[self.index] if cells is not None else CellSpec("", "", "")

    def __rich__(self) -> Cell:
        return to_cell(self.spec)

    @property
    def plain(self) -> str:
        return self.spec.text

    @property
    def style(self) -> str:
        return self.spec.style

    @property
    def sort_key(self) -> Any:
        return self.spec.sort_key

    def __str__(self) -> str:
        return self.spec.text

    def __repr__(self) -> str:
        return f"CellRef({self.key!r}, {self.index}, {self.spec.text!r})"


class RowCells(dict):
    """One row's cells as DataTable stores them, made on first read.

    DataTable renders only the visible rows, so most rows of a 10,000-agent table never
    need a :class:`CellRef` at all; a new row costs one empty dict instead of a dozen refs.
    """

    __slots__ = ("key", "table")

    def __init__(self, table: LiveTable, key: str) -> None:
        super().__init__()
        self.table, self.key = table, key

    def __missing__(self, column_key: Any) -> CellRef:
        index = self.table._col_index.get(column_key)
        if index is None:
            raise KeyError(column_key)
        ref = self[column_key] = CellRef(self.table, self.key, index)
        return ref


def _internals() -> tuple[type, type] | None:
    """DataTable's row record and index types, if this Textual has them where we expect."""
    try:
        from textual._two_way_dict import TwoWayDict
        from textual.widgets.data_table import Row as TableRow
    except ImportError:
        return None
    return TableRow, TwoWayDict


class LiveTable(DataTable):
    """Keyed rows, a mark column, a filter and a sort, all kept across refreshes.

    A ``paged`` table holds one page of a longer order (the Agents view: a page of the
    fleet): moving past its first or last row, Home, End, ``[`` and ``]`` post
    :class:`PageRequested` for the view to load that page; the table itself never holds
    more than the page.
    """

    DEFAULT_CSS = "LiveTable { height: 1fr; }"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("home", "first_row", "First row", show=False),
        Binding("end", "last_row", "Last row", show=False),
        Binding(
            "right_square_bracket", "page('next')", "Next page", id="table.next_page", show=False
        ),
        Binding(
            "left_square_bracket",
            "page('previous')",
            "Previous page",
            id="table.previous_page",
            show=False,
        ),
    ]

    class PageRequested(Message):
        """The operator moved past the loaded page: ``first``, ``previous``, ``next``, ``last``."""

        def __init__(self, table: LiveTable, where: str) -> None:
            super().__init__()
            self.table, self.where = table, where

    class FilterChanged(Message):
        """A paged table's filter changed: the view reads the page again (from the top)."""

        def __init__(self, table: LiveTable) -> None:
            super().__init__()
            self.table = table

    paged = False
    fast = False  # the internals fast path (set in __init__, once DataTable exists)
    # render caches that hold cell content (DataTable keys them by its update counter)
    _CONTENT_CACHES = (
        "_row_render_cache",
        "_cell_render_cache",
        "_row_renderable_cache",
        "_line_cache",
    )

    def __init__(self, columns: list[Column], *, markable: bool = False, **kwargs: Any) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)
        self.spec = columns
        self.markable = markable
        self.all_rows: dict[str, Row] = {}  # every row from the last fetch, filtered or not
        self.painted: dict[str, tuple[CellSpec, ...]] = {}  # replaced, never mutated
        self.order: tuple[str, ...] = ()  # painted keys, top to bottom
        self.generation = 0
        self.marked: set[str] = set()
        self.filter_text = ""
        self._match: Match | None = None
        # pattern -> row matcher; a view whose filter also names an index swaps it
        self.filter_builder: Callable[[str], Match | None] = build_filter
        self.sort_column: str | None = None
        self.sort_reverse = False
        # the table's own key objects, by our str keys: StringKey hashes in Python
        self._row_keys: dict[str, Any] = {}
        self._col_keys: dict[str, Any] = {}
        self._table_rows: dict[str, Any] = {}  # DataTable's Row records, by our str keys
        self._col_index: dict[Any, int] = {}  # column key object -> index in a Row's cells
        self._layout = 0  # bumped whenever rows come, go or move
        self._ordered: tuple[int, list[Any], list[Any]] | None = None
        self._retired: list[Any] = []
        self._internals = _internals()
        self.fast = self._internals is not None and self._has_internals()

    def _has_internals(self) -> bool:
        return (
            isinstance(getattr(self, "_data", None), dict)
            and isinstance(getattr(self, "rows", None), dict)
            and isinstance(getattr(self, "_update_count", None), int)
            and isinstance(getattr(self, "_new_rows", None), set)
            and hasattr(self, "_row_locations")
            and all(hasattr(getattr(self, n, None), "clear") for n in self._CONTENT_CACHES)
        )

    def on_mount(self) -> None:
        if self.markable:
            self._col_keys["_mark"] = self.add_column(" ", width=1, key="_mark")
            self._col_index[self._col_keys["_mark"]] = -1
        for i, col in enumerate(self.spec):
            self._col_keys[col.key] = self.add_column(col.label, width=col.width, key=col.key)
            self._col_index[self._col_keys[col.key]] = i

    # --- data -----------------------------------------------------------------------

    def plan_base(self) -> PlanBase:
        keys = tuple(c.key for c in self.spec)
        sort_index = keys.index(self.sort_column) if self.sort_column in keys else -1
        return PlanBase(
            self.generation,
            self.painted,
            self._match,
            keys,
            sort_index,
            self.order,
            self.sort_reverse,
            self._take_retired(),
        )

    def retire(self, *objects: Any) -> None:
        """Let the next plan free ``objects`` (big, dropped by the screen) off the UI thread."""
        self._retired.extend(objects)

    def _take_retired(self) -> list[Any]:
        retired, self._retired = self._retired, []
        return retired

    def set_rows(self, rows: list[Row]) -> None:
        """Replace the data; paint only the differences (call inside ``app.batch_update``)."""
        self.apply(make_plan(rows, self.plan_base()))

    def set_filter(self, pattern: str) -> None:
        changed = pattern != self.filter_text
        self.filter_text = pattern
        self._match = self.filter_builder(pattern)
        self.set_rows(list(self.all_rows.values()))
        if changed and self.paged:
            self.post_message(self.FilterChanged(self))

    def apply(self, plan: Plan) -> None:
        """Paint a plan; a plan made against an older screen is recomputed here."""
        if plan.generation != self.generation:
            plan = make_plan(list(plan.all_rows.values()), self.plan_base())
        self.retire(self.all_rows, self.painted)
        self.all_rows = plan.all_rows
        if self.marked:
            self.marked = {k for k in self.marked if k in plan.all_rows}
        self.generation += 1
        if plan.order is None:  # same rows, same order: nothing of DataTable's changes
            visible = self._visible_keys()
            self.painted = plan.painted
            if not plan.changed.isdisjoint(visible):
                self.repaint()
            elif plan.changed:
                self.repaint(redraw=False)  # off screen: nothing to draw, nothing stale
            return
        cursor_key = self.cursor_key
        if self.fast:
            self._relayout(plan)
        else:
            self._relayout_public(plan)
        self.order = plan.order
        if cursor_key is not None and cursor_key in self.painted:
            self.move_cursor(row=self.get_row_index(cursor_key), animate=False, scroll=False)

    def _relayout(self, plan: Plan) -> None:
        """Rows came, went or moved: update DataTable's rows and rebuild its index once."""
        assert self._internals is not None and plan.order is not None
        table_row, two_way = self._internals
        data, rows, keys, records = self._data, self.rows, self._row_keys, self._table_rows
        was_empty = not rows
        for key in plan.gone:
            row_key = keys.pop(key)
            del records[key]
            del data[row_key]
            del rows[row_key]
            self._new_rows.discard(row_key)
        row_key_type = self._row_key_type()
        for key in plan.added:
            row_key = keys[key] = row_key_type(key)
            data[row_key] = RowCells(self, key)
            rows[row_key] = records[key] = table_row(row_key, 1)
        self.painted = plan.painted
        self.order = plan.order
        self._layout += 1
        self.retire(self._row_locations)
        self._row_locations = two_way({keys[k]: i for i, k in enumerate(plan.order)})
        if plan.added or plan.gone:
            # fixed-width columns: no cell needs measuring, only the virtual size changes
            self._require_update_dimensions = True
        self._update_count += 1
        self.cursor_coordinate = self.cursor_coordinate  # clamp to the new row count
        self.hover_coordinate = self.hover_coordinate
        if was_empty and rows and self.show_cursor:
            self._highlight_cursor()
        self.check_idle()
        # a new layout re-renders the whole screen: only when the row count changed
        self.refresh(layout=bool(plan.added or plan.gone))

    @staticmethod
    def _row_key_type() -> type:
        from textual.widgets.data_table import RowKey

        return RowKey

    def _relayout_public(self, plan: Plan) -> None:
        """The same through DataTable's public API, for a Textual whose internals moved."""
        assert plan.order is not None
        for key in plan.gone:
            self.remove_row(key)
            self._row_keys.pop(key, None)
        self.painted = plan.painted
        first = -1 if self.markable else 0
        for key in plan.added:
            refs = [CellRef(self, key, i) for i in range(first, len(self.spec))]
            self._row_keys[key] = self.add_row(*refs, key=key)
        position = {k: i for i, k in enumerate(plan.order)}
        if self.row_count:
            self.sort(key=lambda cells: position[cells[0].key])

    @property
    def ordered_rows(self) -> list[Any]:
        """DataTable's rows in display order, rebuilt only when the layout changed.

        DataTable rebuilds this (and the line offsets below) after every update of any
        cell, walking its index through Python-level key objects: O(rows) per refresh.
        """
        if not self.fast:
            return super().ordered_rows
        return self._layout_lists()[1]

    @property
    def _y_offsets(self) -> list[tuple[Any, int]]:
        if not self.fast:
            return super()._y_offsets
        return self._layout_lists()[2]  # every row here is one line high

    def _layout_lists(self) -> tuple[int, list[Any], list[Any]]:
        cached = self._ordered
        if cached is None or cached[0] != self._layout:
            records = self._table_rows
            rows = [records[k] for k in self.order]
            cached = self._ordered = (self._layout, rows, [(r.key, 0) for r in rows])
        return cached

    def clear(self, columns: bool = False) -> LiveTable:
        """DataTable's clear, keeping this table's own bookkeeping in step."""
        self.retire(self.painted, self.all_rows)
        self.painted, self.all_rows, self.order = {}, {}, ()
        self._row_keys, self._table_rows = {}, {}
        self._layout += 1
        self.generation += 1
        super().clear(columns)
        return self

    def _visible_keys(self) -> set[str]:
        """Keys of the rows on screen now (a few dozen), from our own order."""
        top = max(0, int(self.scroll_y))
        return set(self.order[top : top + self.size.height + 1])

    def repaint(self, redraw: bool = True) -> None:
        """Drop rendered cells (``redraw``: and draw the visible rows again from ``painted``).

        DataTable caches rendered rows by its update counter, which a content-only refresh
        does not bump (that would also drop its O(rows) layout caches), so a row rendered
        earlier and changed off screen would scroll back in stale.
        """
        if self.fast:
            for name in self._CONTENT_CACHES:
                getattr(self, name).clear()
            if redraw:
                self.refresh()
        elif self.row_count:  # bumps DataTable's update counter: every cache is dropped
            key = self.order[0] if self.order else None
            if key is not None:
                column = next(iter(self._col_keys))
                self.update_cell(key, column, self.get_cell(key, column))

    # --- cursor, marks, sort ----------------------------------------------------------

    @property
    def cursor_key(self) -> str | None:
        if not self.row_count:
            return None
        try:
            key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key
        except Exception:
            return None
        return key.value

    def action_first_row(self) -> None:
        if self.row_count:
            self.move_cursor(row=0)
        if self.paged:
            self.post_message(self.PageRequested(self, "first"))

    def action_last_row(self) -> None:
        if self.row_count:
            self.move_cursor(row=self.row_count - 1)
        if self.paged:
            self.post_message(self.PageRequested(self, "last"))

    def action_page(self, where: str) -> None:
        if self.paged:
            self.post_message(self.PageRequested(self, where))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "page":
            return self.paged  # an unpaged table has no such keys (nor footer entries)
        return super().check_action(action, parameters)

    def _at_edge(self, last: bool) -> bool:
        return self.paged and (
            not self.row_count or self.cursor_row == (self.row_count - 1 if last else 0)
        )

    def action_cursor_down(self) -> None:
        if self._at_edge(last=True):
            self.post_message(self.PageRequested(self, "next"))
        else:
            super().action_cursor_down()

    def action_cursor_up(self) -> None:
        if self._at_edge(last=False):
            self.post_message(self.PageRequested(self, "previous"))
        else:
            super().action_cursor_up()

    def action_page_down(self) -> None:
        if self._at_edge(last=True):
            self.post_message(self.PageRequested(self, "next"))
        else:
            super().action_page_down()

    def action_page_up(self) -> None:
        if self._at_edge(last=False):
            self.post_message(self.PageRequested(self, "previous"))
        else:
            super().action_page_up()

    def toggle_mark(self) -> None:
        key = self.cursor_key
        if key is None or not self.markable:
            return
        self.marked ^= {key}
        self.repaint()
        if self.cursor_row < self.row_count - 1:
            self.move_cursor(row=self.cursor_row + 1)

    def clear_marks(self) -> None:
        if self.marked:
            self.marked = set()
            self.repaint()

    def sort_by(self, column: str | None = None) -> str:
        """Sort by ``column`` (default: the cursor's); the same column again flips order."""
        if column is None:
            index = self.cursor_column - (1 if self.markable else 0)
            column = self.spec[max(0, min(index, len(self.spec) - 1))].key
        if column == self.sort_column:
            self.sort_reverse = not self.sort_reverse
        else:
            self.sort_column = column
            self.sort_reverse = any(c.numeric for c in self.spec if c.key == column)
        base = self.plan_base()
        order = tuple(ordered(self.order, self.painted, base.sort_index, self.sort_reverse))
        cursor_key = self.cursor_key
        self.generation += 1  # plans made for the old order are stale
        if order != self.order:
            plan = Plan(self.generation, self.all_rows, self.painted, order=order)
            if self.fast:
                self._relayout(plan)
            else:
                self._relayout_public(plan)
            self.order = order
        if cursor_key is not None:
            self.move_cursor(row=self.get_row_index(cursor_key), animate=False)
        return column
