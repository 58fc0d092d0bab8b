""" "Move this tenant to a variant" from a tenant row: `v`, a digit, a reason, ctrl+y.

The operations table's ``tenant.move`` row does the work (its preview lists the tenant's
running agents, its outcome says how many applied the change); this module only offers the
flags' variants to pick from, confirms, and toasts what happened. Nothing here touches
Redis: every read and change runs on the backend's I/O loop.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from agentconsole.tui.safe import clean

if TYPE_CHECKING:
    from agentconsole.tui.app import ConsoleApp
    from agentconsole.tui.backend import Backend

OP = "tenant.move"
MAX_CHOICES = 9  # one digit each


@dataclass(frozen=True)
class Choice:
    flag: str
    variant: str
    payload: Any
    current: bool  # the tenant is forced to this variant already

    @property
    def label(self) -> str:
        from agentconsole.control.variants import payload_text

        shown = "" if self.payload is None else f" ({payload_text(self.payload, 30)})"
        now = "  ← now" if self.current else ""
        return f"{self.flag} → {self.variant}{shown}{now}"


def choices_for(flags: list[Any], tenant: str) -> list[Choice]:
    """Every variant of the enabled, tenant-sticky flags with variants, at most nine."""
    from agentconsole.control.flag_edits import forced_variant

    out = []
    for flag in flags:
        if not flag.variants or not flag.enabled or flag.stickiness != "tenant":
            continue
        now = forced_variant(flag, "tenant", tenant)
        out.extend(Choice(flag.name, v.name, v.payload, v.name == now) for v in flag.variants)
    return out[:MAX_CHOICES]


class VariantPicker(ModalScreen["Choice | None"]):
    """Digits pick at once; arrows and enter work too; escape cancels."""

    BINDINGS: ClassVar[list[Binding]] = [
        Binding("escape", "cancel", "Cancel", id="move.cancel"),
        *(Binding(str(n), f"pick({n})", show=False) for n in range(1, MAX_CHOICES + 1)),
    ]
    DEFAULT_CSS = """
    VariantPicker { align: center middle; }
    VariantPicker > Vertical { width: 72; height: auto; border: thick $warning;
        background: $surface; padding: 1 2; }
    VariantPicker #move-title { text-style: bold; }
    VariantPicker OptionList { height: auto; max-height: 12; margin-top: 1; }
    """

    def __init__(self, tenant: str, choices: list[Choice]) -> None:
        super().__init__()
        self.tenant = tenant
        self.choices = choices

    def compose(self):
        with Vertical():
            yield Static(Text(f"Move tenant {clean(self.tenant, 40)} to …"), id="move-title")
            yield OptionList(
                *(
                    Option(Text(f"{i}  {clean(c.label, 60)}"), id=str(i))
                    for i, c in enumerate(self.choices, 1)
                ),
                id="move-choices",
            )

    def on_mount(self) -> None:
        self.query_one(OptionList).focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.action_pick(int(event.option.id or 0))

    def action_pick(self, n: int) -> None:
        if 1 <= n <= len(self.choices):
            self.dismiss(self.choices[n - 1])

    def action_cancel(self) -> None:
        self.dismiss(None)


def start(app: ConsoleApp, tenant: str) -> None:
    """Offer the variants for ``tenant`` (a tenant row's action)."""
    if not app.allowed(OP):
        return
    app.run_worker(_offer(app, tenant), group="action", exit_on_error=False)


async def _offer(app: ConsoleApp, tenant: str) -> None:
    async def load(backend: Backend) -> list[Choice]:
        flags, _ = await backend.plane().flags.list()
        return choices_for(flags, tenant)

    try:
        choices = await app.backend.run(load)
    except Exception as exc:
        app.report(exc, "reading the flags' variants", OP)
        return
    if not choices:
        app.toast("no enabled tenant flag has variants to move a tenant to", severity="warning")
        return

    def picked(choice: Choice) -> None:
        app.run_worker(_confirm(app, tenant, choice), group="action", exit_on_error=False)

    app._ask(VariantPicker(tenant, choices), picked)


async def _confirm(app: ConsoleApp, tenant: str, choice: Choice) -> None:
    from agentconsole.control import operations as ops
    from agentconsole.tui.modals import ConfirmScreen

    op = ops.get(OP)
    try:
        call = op.call({"tenant": tenant, "flag": choice.flag, "variant": choice.variant})
        preview = await app.backend.run(lambda backend: op.preview(backend.plane(), call))
    except Exception as exc:
        app.report(exc, f"moving tenant {tenant}", OP)
        return

    def confirmed(decision: Any) -> None:
        call.reason = decision.reason
        app.run_worker(_run(app, call), group="action", exit_on_error=False)

    screen = ConfirmScreen(preview.title, preview.targets, detail=preview.detail, verb="Move")
    app._ask(screen, confirmed)


async def _run(app: ConsoleApp, call: Any) -> None:
    try:
        outcome = await app.backend.run(lambda backend: call.op.run(backend.plane(), call))
    except Exception as exc:
        app.report(exc, f"moving tenant {call.args['tenant']}", OP)
        return
    app.toast(outcome.text, severity="warning" if outcome.warning else "information")
    app.poll_now()
