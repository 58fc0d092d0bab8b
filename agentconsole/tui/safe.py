"""Untrusted text made safe for the screen: no markup, no terminal control, bounded width.

Agent task labels, user and tenant ids, alert annotations and runbook text come from
outside. A plain ``str`` in a DataTable cell or a toast is parsed as markup (``[/foo]``
crashes at render time) and an ANSI sequence could repaint the operator's terminal, so
every such value goes through :func:`clean` and is wrapped in ``rich.text.Text``.
"""

from __future__ import annotations

import re
from typing import Any

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


def cell(value: Any, width: int | None = 40, style: str = "", sort_key: Any = None) -> Cell:
    """A literal cell: markup characters and escapes in ``value`` are shown, never obeyed."""
    out = Cell(clean(value, width), style=style, no_wrap=True, overflow="ellipsis")
    out.sort_key = sort_key if sort_key is not None else out.plain
    return out


def text(value: Any, width: int | None = 200, style: str = "") -> Text:
    return Text(clean(value, width), style=style)


def signature(cells: tuple[Text, ...]) -> tuple[tuple[str, str], ...]:
    """What decides whether a painted cell must be updated: its text and its style."""
    return tuple((c.plain, str(c.style)) for c in cells)
