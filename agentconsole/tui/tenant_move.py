""" "Move this tenant to a variant" from a tenant row: `v`, a digit, a reason, ctrl+y.

The key posts the operations table's ``tenant.move`` row with the tenant; this module is its
asker (``tui/operations.py``): it offers the enabled tenant flags' variants to pick from (a
ChoiceScreen). The row's preview lists the tenant's running agents, its outcome says how
many applied the change. Nothing here touches Redis but through the asker, which runs on
the backend's I/O loop.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from agentconsole.tui.modals import MAX_CHOICES
from agentconsole.tui.operations import Ask

if TYPE_CHECKING:
    from agentconsole.control.operations import Call
    from agentconsole.control.plane import ControlPlane

OP = "tenant.move"


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

    out: list[Choice] = []
    for flag in flags:
        if not flag.variants or not flag.enabled or flag.stickiness != "tenant":
            continue
        now = forced_variant(flag, "tenant", tenant)
        out.extend(Choice(flag.name, v.name, v.payload, v.name == now) for v in flag.variants)
    return out[:MAX_CHOICES]


async def ask(plane: ControlPlane, call: Call) -> Ask:
    """Which flag and variant, when the request names only the tenant."""
    if call.args.get("flag") and call.args.get("variant"):
        return Ask()
    tenant = call.args["tenant"]
    flags, _ = await plane.flags.list()
    choices = choices_for(flags, tenant)
    if not choices:
        return Ask(refusal="no enabled tenant flag has variants to move a tenant to")
    return Ask(
        choices=[(c.label, {"flag": c.flag, "variant": c.variant}) for c in choices],
        choice_title=f"Move tenant {tenant} to …",
    )
