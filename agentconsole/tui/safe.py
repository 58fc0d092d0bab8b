"""Untrusted text made safe for the screen: no markup, no terminal control, bounded width.

Agent task labels, user and tenant ids, alert annotations and runbook text come from
outside. A plain ``str`` in a DataTable cell or a toast is parsed as markup (``[/foo]``
crashes at render time) and an ANSI sequence could repaint the operator's terminal, so
every such value goes through :func:`agentconsole.text.clean` (the one sanitiser) and is
wrapped in ``rich.text.Text``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from rich.text import Text

from agentconsole.text import clean

__all__ = ["Cell", "CellSpec", "cell", "clean", "to_cell"]


class Cell(Text):
    """A table cell that carries the raw value its column sorts by."""

    sort_key: Any = None


class CellSpec(NamedTuple):
    """A cell as plain data: cheap to build, compare and ship across threads.

    Loaders build specs for every row on each refresh; only the specs that differ from
    what is on screen become :class:`Cell` objects (see ``table.make_plan``).
    """

    text: str
    style: str
    sort_key: Any


def cell(value: Any, width: int | None = 40, style: str = "", sort_key: Any = None) -> CellSpec:
    """A literal cell: markup characters and escapes in ``value`` are shown, never obeyed."""
    shown = clean(value, width)
    return CellSpec(shown, style, shown if sort_key is None else sort_key)


def to_cell(spec: CellSpec) -> Cell:
    out = Cell(spec.text, style=spec.style, no_wrap=True, overflow="ellipsis")
    out.sort_key = spec.sort_key
    return out
