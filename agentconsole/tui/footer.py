"""The footer: the keys that matter at the current width, never one cut in half.

Textual's footer lays every shown binding out in a row and cuts what does not fit (at 80
columns it ended after "3 Flags"). This one chooses, by what an operator needs first:
help and quit (the way to every other key), then the keys of the view or screen in front,
then the view switches, then `:` and `/`, then the palette key; every one of them folded
first, then unfolded in the same order while there is room. What is left out is in
`?` help. The order on screen stays the bindings' own.

Keys that run the same verb of the operations table share one label when there is no room
for each: the verb is the one the operation's dialog button says (``button_label``), so
the Agents view's ladder reads ``d/D Drain  z/Z Pause  k/t/S Kill  u/r/l Lift`` at 80
columns and ``d Drain tenant  D Drain agent ...`` where it fits; the six view switches
likewise read ``1-6 views``. Nothing here lists a key: the groups come from the bindings
and the table.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rich.text import Text
from textual.actions import parse
from textual.binding import Binding
from textual.widgets import Footer

ESSENTIAL = frozenset({"app.help", "app.quit"})
LATER = frozenset({"app.command", "app.filter"})
VIEW_PREFIX = "view."


def rank(binding: Binding) -> int:
    """0 first: help and quit, the view's own keys, the view switches, then `:` and `/`."""
    bid = binding.id or ""
    if bid in ESSENTIAL:
        return 0
    if bid.startswith(VIEW_PREFIX):
        return 2
    if bid in LATER:
        return 3
    return 1


def verb(binding: Binding, node: Any) -> str | None:
    """The operations-table verb a key runs ("Drain" for ``op('drain.tenant')``, "Lift" for
    an action the view maps to ``pause.lift``), or None for a key that runs none."""
    from agentconsole.control import operations as ops
    from agentconsole.control.errors import InvalidValue
    from agentconsole.tui.operations import button_label

    _, action, params = parse(binding.action)
    names = (str(params[0]),) if action == "op" and params else ()
    names = names or tuple(getattr(node, "ACTION_OPERATIONS", {}).get(action, ()))
    if not names:
        return None
    try:
        return button_label(ops.get(names[0]))
    except InvalidValue:
        return None


@dataclass
class Unit:
    """One entry of the footer: a key, or keys of one verb (or the view switches) that
    collapse into one label (" d/D Drain ") when there is no room for each."""

    bindings: list[Binding]
    label: str = ""
    keys: str = ""
    widths: list[int] = field(default_factory=list)

    @property
    def full(self) -> int:
        return sum(self.widths)

    @property
    def compact(self) -> int:
        if len(self.bindings) == 1:
            return self.full
        return len(self.keys) + len(self.label) + 3  # " d/D " then "Drain "


def joined(keys: list[str]) -> str:
    """``1-6`` for consecutive digits, else ``d/D``."""
    digits = [int(k) for k in keys if k.isdigit() and len(k) == 1]
    run = len(digits) == len(keys) > 2 and digits == list(range(digits[0], digits[-1] + 1))
    if run:
        return f"{keys[0]}-{keys[-1]}"
    return "/".join(keys)


@dataclass
class Choice:
    shown: set[str]  # actions shown as keys of their own
    labels: dict[str, str]  # first action of a collapsed unit -> its keys ("d/D")
    texts: dict[str, str]  # first action of a collapsed unit -> its label ("Drain")
    spare: int


class ConsoleFooter(Footer):
    """A footer that fits: see the module docstring. Textual's footer builds the keys; this
    one keeps those chosen for the width (no Textual binding groups here, so they are flat)
    and puts a label in place of a collapsed unit."""

    DEFAULT_CSS = """
    ConsoleFooter .group-label { width: auto; color: $footer-description-foreground;
        background: $footer-description-background; }
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._composed_width = 0

    def _width_of(self, binding: Binding) -> int:
        # " key " then "description ": the key widget's padding in the regular style
        return len(self.app.get_key_display(binding)) + len(binding.description) + 3

    def units(self, bindings: list[tuple[Binding, Any]]) -> list[Unit]:
        """The bindings (with the node each belongs to) as footer units, in their order."""
        units: list[Unit] = []
        by_group: dict[tuple[int, str], Unit] = {}
        for binding, node in bindings:
            r = rank(binding)
            group = "views" if r == 2 else (verb(binding, node) if r == 1 else None)
            unit = by_group.get((r, group)) if group else None
            if unit is None:
                unit = Unit([], label=group or "")
                units.append(unit)
                if group:
                    by_group[(r, group)] = unit
            unit.bindings.append(binding)
            unit.widths.append(self._width_of(binding))
        for unit in units:
            unit.keys = joined([self.app.get_key_display(b) for b in unit.bindings])
        return units

    def choose(self, bindings: list[tuple[Binding, Any]], width: int) -> Choice:
        """Every unit that fits, collapsed, rank by rank (so `:` and `/` find room beside a
        long ladder); then, rank by rank again, each in full while the room lasts."""
        budget = width - 1
        units = self.units(bindings)
        included: list[Unit] = []
        expanded: set[int] = set()
        by_rank: dict[int, list[Unit]] = {}
        for unit in units:
            by_rank.setdefault(rank(unit.bindings[0]), []).append(unit)
        for r in sorted(by_rank):
            for unit in by_rank[r]:
                if unit.compact <= budget:
                    included.append(unit)
                    budget -= unit.compact
        for unit in sorted(included, key=lambda u: rank(u.bindings[0])):
            extra = unit.full - unit.compact
            if len(unit.bindings) == 1 or extra <= budget:
                expanded.add(id(unit))
                budget -= extra
        shown: set[str] = set()
        labels: dict[str, str] = {}
        texts: dict[str, str] = {}
        for unit in included:
            if id(unit) in expanded:
                shown.update(b.action for b in unit.bindings)
            else:
                labels[unit.bindings[0].action] = unit.keys
                texts[unit.bindings[0].action] = unit.label
        return Choice(shown, labels, texts, budget)

    def compose(self):
        from textual.widgets import Static

        width = self.size.width or self.app.size.width
        self._composed_width = width
        bindings: dict[str, tuple[Binding, Any]] = {}
        palette = None
        for node, binding, _, _ in self.screen.active_bindings.values():
            if binding.action == "command_palette":
                palette = binding
            if binding.show:
                bindings.setdefault(binding.action, (binding, node))  # one entry per action
        choice = self.choose(list(bindings.values()), width)
        for widget in super().compose():
            action = getattr(widget, "action", None)
            if widget.has_class("-command-palette"):
                # docked right, with a border: only when there is room for it
                if palette is not None and self._width_of(palette) + 1 <= choice.spare:
                    yield widget
                continue
            if action in choice.labels:
                keys, label = choice.labels[action], choice.texts[action]
                text = Text.assemble((f" {keys} ", "bold"), f"{label} ")
                yield Static(text, classes="group-label")
            if action in choice.shown:
                yield widget

    def on_resize(self) -> None:
        if self.size.width != self._composed_width:
            self.call_after_refresh(self.recompose)
