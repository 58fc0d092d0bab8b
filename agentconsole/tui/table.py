"""A DataTable that is refreshed by key: only changed cells are updated, in one batch.

Why: an operator reads a table while it refreshes. Clearing and re-adding rows would
lose the cursor, the scroll position and the marks; updating only what changed keeps
all three and costs work proportional to the change, not to the fleet.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from rich.text import Text
from textual.widgets import DataTable

from agentconsole.tui.safe import Cell, cell, signature

MARK = "●"


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    width: int
    numeric: bool = False


@dataclass
class Row:
    """One row as a loader builds it, on the I/O thread: cells and their signature ready."""

    key: str
    cells: tuple[Cell, ...]
    search: str  # lower-case text the `/` filter matches against
    sig: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        if not self.sig:
            self.sig = signature(self.cells)


def build_filter(pattern: str) -> Callable[[str], bool] | None:
    """k9s-style filter: a regex (a plain substring if it is not one); ``!`` inverts."""
    pattern = pattern.strip()
    if not pattern:
        return None
    invert = pattern.startswith("!")
    body = pattern[1:] if invert else pattern
    try:
        rx = re.compile(body, re.IGNORECASE)
        match = rx.search
    except re.error:
        needle = body.lower()

        def match(s: str) -> bool:  # type: ignore[misc]
            return needle in s

    if invert:
        return lambda s: not match(s)
    return lambda s: bool(match(s))


class LiveTable(DataTable):
    """Keyed rows, a mark column, a filter and a sort, all kept across refreshes."""

    DEFAULT_CSS = "LiveTable { height: 1fr; }"

    def __init__(self, columns: list[Column], *, markable: bool = False, **kwargs) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)
        self.spec = columns
        self.markable = markable
        self.all_rows: dict[str, Row] = {}  # every row from the last fetch, filtered or not
        self.painted: dict[str, tuple[tuple[str, str], ...]] = {}
        self.marked: set[str] = set()
        self.filter_text = ""
        self._match: Callable[[str], bool] | None = None
        self.sort_column: str | None = None
        self.sort_reverse = False

    def on_mount(self) -> None:
        if self.markable:
            self.add_column(" ", width=1, key="_mark")
        for col in self.spec:
            self.add_column(col.label, width=col.width, key=col.key)

    # --- data -----------------------------------------------------------------------

    def visible_keys(self) -> list[str]:
        return [k for k, r in self.all_rows.items() if self._match is None or self._match(r.search)]

    def hidden_count(self, keys: set[str] | None = None) -> int:
        """How many of ``keys`` (default: all rows) the filter hides."""
        keys = set(self.all_rows) if keys is None else keys
        return len(keys - set(self.painted))

    def set_rows(self, rows: list[Row]) -> None:
        """Replace the data; paint only the differences (call inside ``app.batch_update``)."""
        self.all_rows = {r.key: r for r in rows}
        self.marked &= set(self.all_rows)
        self._sync()

    def set_filter(self, pattern: str) -> None:
        self.filter_text = pattern
        self._match = build_filter(pattern)
        self._sync()

    def _mark_cell(self, key: str) -> Cell:
        return cell(MARK if key in self.marked else "", 1, "bold magenta")

    def _sync(self) -> None:
        wanted = self.visible_keys()
        wanted_set = set(wanted)
        cursor_key = self.cursor_key
        gone = [k for k in self.painted if k not in wanted_set]
        if len(gone) > 50 and len(gone) > len(self.painted) // 2:
            self.clear()
            self.painted = {}
        else:
            for key in gone:
                self.remove_row(key)
                del self.painted[key]
        added = False
        col_keys = [c.key for c in self.spec]
        changes: list[tuple[str, str, Cell]] = []
        sort_changed = False
        sort_index = col_keys.index(self.sort_column) if self.sort_column in col_keys else -1
        for key in wanted:
            row = self.all_rows[key]
            sig = row.sig
            old = self.painted.get(key)
            if old is None:
                cells = row.cells
                if self.markable:
                    cells = (self._mark_cell(key), *cells)
                self.add_row(*cells, key=key)
                added = True
            elif old != sig:
                for i, (before, after) in enumerate(zip(old, sig, strict=True)):
                    if before != after:
                        changes.append((key, col_keys[i], row.cells[i]))
                        sort_changed = sort_changed or i == sort_index
            else:
                continue
            self.painted[key] = sig
        self._write_cells(changes)
        if added or sort_changed or gone:
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
        for key, column, value in changes:
            data[key][column] = value
        self._update_count += 1
        self.refresh()

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
