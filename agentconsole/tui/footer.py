"""The footer: the keys that matter at the current width, never one cut in half.

Textual's footer lays every shown binding out in a row and cuts what does not fit (at 80
columns it ended after "3 Flags"). This one chooses, by what an operator needs first:
help and quit (the way to every other key), then the keys of the view or screen in front,
then the view switches (one "1-6 views" label when the six do not fit), then `:` and `/`,
then the palette key. What is left out is in `?` help. The order on screen stays the
bindings' own.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
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


class ConsoleFooter(Footer):
    """A footer that fits: see the module docstring. Textual's footer builds the keys; this
    one keeps those chosen for the width (no binding groups here, so they are flat)."""

    DEFAULT_CSS = """
    ConsoleFooter .views-label { width: auto; color: $footer-description-foreground;
        background: $footer-description-background; }
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._composed_width = 0

    def _width_of(self, binding: Binding) -> int:
        # " key " then "description ": the key widget's padding in the regular style
        return len(self.app.get_key_display(binding)) + len(binding.description) + 3

    def choose(self, bindings: list[Binding], width: int) -> tuple[set[str], str, int]:
        """The actions shown, the views label ("" when each view is shown), columns spare."""
        budget = width - 1
        shown: set[str] = set()
        views = [b for b in bindings if rank(b) == 2]
        label = ""
        for binding in sorted(bindings, key=rank):  # stable: the bindings' order within a rank
            if rank(binding) == 2:
                if binding is not views[0]:
                    continue
                full = sum(self._width_of(b) for b in views)
                if full <= budget:
                    shown.update(b.action for b in views)
                    budget -= full
                elif len(views) > 1 and len(f"{views[0].key}-{views[-1].key}") + 8 <= budget:
                    label = f"{views[0].key}-{views[-1].key}"  # shown as " 1-6 views "
                    budget -= len(label) + 8
                continue
            need = self._width_of(binding)
            if need <= budget:
                shown.add(binding.action)
                budget -= need
        return shown, label, budget

    def compose(self):
        from textual.widgets import Static

        width = self.size.width or self.app.size.width
        self._composed_width = width
        bindings: dict[str, Binding] = {}
        palette = None
        for _, binding, _, _ in self.screen.active_bindings.values():
            if binding.action == "command_palette":
                palette = binding
            if binding.show:
                bindings.setdefault(binding.action, binding)  # one entry per action
        shown, label, spare = self.choose(list(bindings.values()), width)
        first_view = next((b.action for b in bindings.values() if rank(b) == 2), None)
        for widget in super().compose():
            action = getattr(widget, "action", None)
            if widget.has_class("-command-palette"):
                # docked right, with a border: only when there is room for it
                if palette is not None and self._width_of(palette) + 1 <= spare:
                    yield widget
                continue
            if action == first_view and label:
                text = Text.assemble((f" {label} ", "bold"), "views ")
                yield Static(text, classes="views-label")
            if action in shown:
                yield widget

    def on_resize(self) -> None:
        if self.size.width != self._composed_width:
            self.call_after_refresh(self.recompose)
