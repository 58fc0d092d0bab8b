"""Untrusted text made safe for the screen: no markup, no terminal control, bounded width.

Agent task labels, user and tenant ids, alert annotations and runbook text come from
outside. A plain ``str`` in a DataTable cell or a toast is parsed as markup (``[/foo]``
crashes at render time) and an ANSI sequence could repaint the operator's terminal, so
every such value goes through :func:`clean` and is wrapped in ``rich.text.Text``.
"""

from __future__ import annotations

import re
from typing import Any, NamedTuple

from rich.text import Text

# CSI (ESC [ ... final), OSC (ESC ] ... BEL or ST), other two-byte escapes, and 8-bit CSI.
_ANSI = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"
    r"|\x1b[PX^_][^\x1b]*(?:\x1b\\)?"
    r"|\x1b[@-Z\\-_]"
    r"|\x9b[0-?]*[ -/]*[@-~]"
)
ELLIPSIS = "…"


def clean(value: Any, width: int | None = 60) -> str:
    """Plain, printable, one-line text of at most ``width`` cells (ellipsis when cut)."""
    text = "" if value is None else str(value)
    if "\x1b" in text or "\x9b" in text:
        text = _ANSI.sub("", text)
    if not text.isprintable():
        text = "".join(ch if ch.isprintable() else ("␤" if ch == "\n" else "?") for ch in text)
    if width is not None and len(text) > width:
        text = text[: max(0, width - 1)] + ELLIPSIS
    return text


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
