"""Editing a flag's variant weights from the Flags view (`w`), with a live preview of how the
recent users (or tenants, or agents: the flag's stickiness) would be split per variant.

The preview is ``control.flags.preview``, the evaluation the SDK runs, over the keys of the
agents in the registry; the change is the operations table's ``flag.weights`` row, made
against the version shown (compare-and-set).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static

from agentconsole.tui.modals import Decision
from agentconsole.tui.safe import clean

if TYPE_CHECKING:
    from agentconsole.tui.app import ConsoleApp
    from agentconsole.tui.backend import Backend

OP = "flag.weights"


def split_text(counts: dict[str, int], order: list[str]) -> str:
    """``standard 36 · cheap 4`` in the flag's variant order, then on/off."""
    names = [n for n in order if n in counts] + [n for n in counts if n not in order]
    return " · ".join(f"{n} {counts[n]}" for n in names) or "nobody"


class WeightsScreen(ModalScreen["Decision | None"]):
    BINDINGS: ClassVar[list[Binding]] = [
        Binding("escape", "cancel", "Cancel", id="weights.cancel"),
        Binding("ctrl+y", "confirm", "Apply", id="weights.confirm"),
    ]
    DEFAULT_CSS = """
    WeightsScreen { align: center middle; }
    WeightsScreen > Vertical { width: 80; height: auto; border: thick $warning;
        background: $surface; padding: 1 2; }
    WeightsScreen #weights-title { text-style: bold; }
    WeightsScreen #weights-buttons { height: auto; align-horizontal: right; margin-top: 1; }
    WeightsScreen Button { margin-left: 2; }
    """

    def __init__(self, flag: Any, population: list[str], what: str) -> None:
        super().__init__()
        self.flag = flag
        self.population = population
        self.what = what
        self.order = [v.name for v in flag.variants]

    def compose(self):
        now = " ".join(f"{v.name}={v.weight}" for v in self.flag.variants)
        with Vertical():
            yield Static(
                Text(f"Weights of {clean(self.flag.name, 60)} (now {clean(now, 80)})"),
                id="weights-title",
            )
            yield Input(value=now, placeholder="e.g. standard=90 cheap=10", id="weights")
            yield Static("", id="preview")
            yield Input(placeholder="reason (recorded in the audit log)", id="reason")
            with Horizontal(id="weights-buttons"):
                yield Button("Cancel", id="cancel", variant="primary")
                yield Button("Apply", id="apply", variant="warning")

    def on_mount(self) -> None:
        self.query_one("#weights", Input).focus()
        self.update_preview(self.query_one("#weights", Input).value)

    def proposed(self, value: str) -> Any:
        """The flag with the weights typed (checked as the control plane will), or raise."""
        from agentconsole.control.flag_edits import parse_weights, set_weights

        return set_weights(self.flag, parse_weights(",".join(value.split()))).check()

    def update_preview(self, value: str) -> None:
        from agentconsole.control.flags import preview

        box = self.query_one("#preview", Static)
        n = len(self.population)
        now = split_text(preview(self.flag, self.population), self.order)
        try:
            flag = self.proposed(value)
        except Exception as exc:
            box.update(Text(clean(str(exc), 120), style="red"))
            return
        new = split_text(preview(flag, self.population), self.order)
        box.update(Text(f"{n} recent {self.what}: {new}\n(now: {now})", style="bold"))

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "weights":
            self.update_preview(event.value)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.focus_next()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "apply":
            self.action_confirm()
        else:
            self.action_cancel()

    def action_cancel(self) -> None:
        self.dismiss(None)

    def action_confirm(self) -> None:
        value = self.query_one("#weights", Input).value
        try:
            self.proposed(value)
        except Exception as exc:
            self.query_one("#preview", Static).update(Text(clean(str(exc), 120), style="red"))
            return
        self.dismiss(Decision(self.query_one("#reason", Input).value.strip(), value=value))


def start(app: ConsoleApp, flag: Any) -> None:
    if not app.allowed("flag.variants"):
        return
    if not flag.variants:
        app.toast(f"flag {flag.name} has no variants to weigh", severity="warning")
        return
    app.run_worker(_ask(app, flag), group="action", exit_on_error=False)


async def _ask(app: ConsoleApp, flag: Any) -> None:
    sticky = flag.variant_stickiness or flag.stickiness

    async def population(backend: Backend) -> list[str]:
        agents = await backend.plane().agents.list(limit=2000)
        attr = {"user": "user", "tenant": "tenant"}.get(sticky, "id")
        return sorted({getattr(a, attr) for a in agents if getattr(a, attr)})

    try:
        keys = await app.backend.run(population)
    except Exception as exc:
        app.report(exc, "reading recent agents for the preview")
        return
    what = {"user": "users", "tenant": "tenants"}.get(sticky, "agents")

    def apply(decision: Decision) -> None:
        app.run_worker(_apply(app, flag, decision), group="action", exit_on_error=False)

    app._ask(WeightsScreen(flag, keys, what), apply)


async def _apply(app: ConsoleApp, flag: Any, decision: Decision) -> None:
    from agentconsole.control import operations as ops

    op = ops.get(OP)
    try:
        call = op.call(
            {"flag": flag.name, "weights": decision.value.split()},
            reason=decision.reason,
            expected_version=flag.version,
        )
        outcome = await app.backend.run(lambda backend: op.run(backend.plane(), call))
    except Exception as exc:
        app.report(exc, f"changing the weights of {flag.name}", "flag.variants")
        return
    app.toast(outcome.text)
    app.poll_now()
