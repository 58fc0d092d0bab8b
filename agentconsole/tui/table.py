"""A DataTable that is refreshed by key: only changed cells are updated, in one batch.

Why: an operator reads a table while it refreshes. Clearing and re-adding rows would
lose the cursor, the scroll position and the marks; updating only what changed keeps
all three and costs work proportional to the change, not to the fleet.

The diff itself (which rows are new, gone, which cells changed) is a pure function,
:func:`make_plan`, so a loader can compute it on the I/O thread from a snapshot of what
is on screen (:meth:`LiveTable.plan_base`); the UI thread then only applies it. If the
screen changed meanwhile (a filter typed, say), the plan is stale and is recomputed.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rich.text import Text
from textual.widgets import DataTable

from agentconsole.tui.safe import Cell, CellSpec, cell, to_cell

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


@dataclass
class Plan:
    generation: int
    all_rows: dict[str, Row]
    painted: dict[str, tuple[CellSpec, ...]]
    added: list[tuple[str, tuple[Cell, ...]]] = field(default_factory=list)
    gone: list[str] = field(default_factory=list)
    changes: list[tuple[str, str, Cell]] = field(default_factory=list)
    sort_changed: bool = False


def make_plan(rows: list[Row], base: PlanBase) -> Plan:
    """Diff ``rows`` against the screen: pure, so it may run on any thread."""
    all_rows = {r.key: r for r in rows}
    match, old_painted, columns = base.match, base.painted, base.columns
    painted: dict[str, tuple[CellSpec, ...]] = {}
    plan = Plan(base.generation, all_rows, painted)
    for row in rows:
        if match is not None and not match(row.search):
            continue
        key, cells = row.key, row.cells
        painted[key] = cells
        old = old_painted.get(key)
        if old is None:
            plan.added.append((key, tuple(to_cell(c) for c in cells)))
        elif old != cells:
            for i, (before, after) in enumerate(zip(old, cells, strict=True)):
                if before != after:
                    plan.changes.append((key, columns[i], to_cell(after)))
                    if i == base.sort_index:
                        plan.sort_changed = True
    plan.gone = [k for k in old_painted if k not in painted]
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


class LiveTable(DataTable):
    """Keyed rows, a mark column, a filter and a sort, all kept across refreshes."""

    DEFAULT_CSS = "LiveTable { height: 1fr; }"

    def __init__(self, columns: list[Column], *, markable: bool = False, **kwargs: Any) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)
        self.spec = columns
        self.markable = markable
        self.all_rows: dict[str, Row] = {}  # every row from the last fetch, filtered or not
        self.painted: dict[str, tuple[CellSpec, ...]] = {}  # replaced, never mutated
        self.generation = 0
        self.marked: set[str] = set()
        self.filter_text = ""
        self._match: Match | None = None
        self.sort_column: str | None = None
        self.sort_reverse = False
        # the table's own key objects: a dict probe with the stored object is an identity
        # check, a probe with a str calls StringKey.__eq__ (ten times slower at 10k rows)
        self._row_keys: dict[str, Any] = {}
        self._col_keys: dict[str, Any] = {}

    def on_mount(self) -> None:
        if self.markable:
            self._col_keys["_mark"] = self.add_column(" ", width=1, key="_mark")
        for col in self.spec:
            self._col_keys[col.key] = self.add_column(col.label, width=col.width, key=col.key)

    # --- data -----------------------------------------------------------------------

    def plan_base(self) -> PlanBase:
        keys = tuple(c.key for c in self.spec)
        sort_index = keys.index(self.sort_column) if self.sort_column in keys else -1
        return PlanBase(self.generation, self.painted, self._match, keys, sort_index)

    def set_rows(self, rows: list[Row]) -> None:
        """Replace the data; paint only the differences (call inside ``app.batch_update``)."""
        self.apply(make_plan(rows, self.plan_base()))

    def set_filter(self, pattern: str) -> None:
        self.filter_text = pattern
        self._match = build_filter(pattern)
        self.set_rows(list(self.all_rows.values()))

    def apply(self, plan: Plan) -> None:
        """Paint a plan; a plan made against an older screen is recomputed here."""
        if plan.generation != self.generation:
            plan = make_plan(list(plan.all_rows.values()), self.plan_base())
        self.all_rows = plan.all_rows
        self.marked &= set(plan.all_rows)
        cursor_key = self.cursor_key
        if len(plan.gone) > 50 and len(plan.gone) > len(self.painted) // 2:
            self.clear()  # one layout pass instead of one per removed row
            self.painted = {}
            self._row_keys = {}
            plan = make_plan(list(plan.all_rows.values()), self.plan_base())
        for key in plan.gone:
            self.remove_row(key)
            self._row_keys.pop(key, None)
        for key, cells in plan.added:
            if self.markable:
                cells = (self._mark_cell(key), *cells)
            self._row_keys[key] = self.add_row(*cells, key=key)
        self._write_cells(plan.changes)
        self.painted = plan.painted
        self.generation += 1
        if plan.added or plan.gone or plan.sort_changed:
            self._apply_sort()
        if cursor_key is not None and cursor_key in self.painted:
            self.move_cursor(row=self.get_row_index(cursor_key), animate=False, scroll=False)

    def _write_cells(self, changes: list[tuple[str, str, Cell]]) -> None:
        """Many cell updates with one refresh.

        ``update_cell`` refreshes the widget once per cell (20 µs each: 200 ms for 10,000
        changed cells). Rows and columns here always exist, so write the cells and bump
        the table's update counter once. Falls back to ``update_cell`` if a future Textual
        renames these internals.
        """
        if not changes:
            return
        data = getattr(self, "_data", None)
        if not isinstance(data, dict) or not isinstance(getattr(self, "_update_count", None), int):
            for key, column, value in changes:
                self.update_cell(key, column, value)
            return
        rows, cols = self._row_keys, self._col_keys
        for key, column, value in changes:
            data[rows.get(key, key)][cols.get(column, column)] = value
        self._update_count += 1
        self.refresh()

    def _mark_cell(self, key: str) -> Cell:
        return to_cell(cell(MARK if key in self.marked else "", 1, "bold magenta"))

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

    def toggle_mark(self) -> None:
        key = self.cursor_key
        if key is None or not self.markable:
            return
        self.marked ^= {key}
        self.update_cell(key, "_mark", self._mark_cell(key))
        if self.cursor_row < self.row_count - 1:
            self.move_cursor(row=self.cursor_row + 1)

    def clear_marks(self) -> None:
        for key in list(self.marked):
            self.marked.discard(key)
            if key in self.painted:
                self.update_cell(key, "_mark", self._mark_cell(key))

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
        cursor_key = self.cursor_key
        self._apply_sort()
        if cursor_key is not None:
            self.move_cursor(row=self.get_row_index(cursor_key), animate=False)
        return column

    def _apply_sort(self) -> None:
        if self.sort_column is None or not self.row_count:
            return
        self.sort(self.sort_column, key=_sort_key, reverse=self.sort_reverse)


def _sort_key(value: Text) -> tuple[int, object]:
    raw = getattr(value, "sort_key", None)
    if raw is None:
        raw = value.plain if isinstance(value, Text) else str(value)
    # numbers before text, so mixed columns never raise TypeError
    return (0, raw) if isinstance(raw, int | float) else (1, str(raw))
