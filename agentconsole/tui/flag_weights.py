"""Editing a flag's variant weights from the Flags view (`w`), with a live preview of how the
recent users (or tenants, or agents: the flag's stickiness) would be split per variant.

The key posts the operations table's ``flag.weights`` row, so the dialog is the one
ConfirmScreen; this module is its asker (``tui/operations.py``): the weights now, prefilled,
and the preview, which is ``control.flags.preview`` (the evaluation the SDK runs) over the
keys of the agents in the registry. The change is made against the version shown.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from agentconsole.tui.operations import Ask, plural, recent_keys

if TYPE_CHECKING:
    from agentconsole.control.operations import Call
    from agentconsole.control.plane import ControlPlane

OP = "flag.weights"


def split_text(counts: dict[str, int], order: list[str]) -> str:
    """``standard 36 · cheap 4`` in the flag's variant order, then on/off."""
    names = [n for n in order if n in counts] + [n for n in counts if n not in order]
    return " · ".join(f"{n} {counts[n]}" for n in names) or "nobody"


def proposed(flag: Any, typed: str) -> Any:
    """The flag with the weights typed, checked as the control plane will (or raise)."""
    from agentconsole.control.flag_edits import parse_weights, set_weights

    return set_weights(flag, parse_weights(",".join(typed.split()))).check()


async def ask(plane: ControlPlane, call: Call) -> Ask:
    from agentconsole.control.flags import preview

    if "weights" in call.args:
        return Ask()  # written in full (the : line): the grammar and the plane check them
    flag = await plane.flags.get(call.args["flag"])
    if not flag.variants:
        return Ask(refusal=f"flag {flag.name} has no variants to weigh")
    if call.expected_version is None:
        call.expected_version = flag.version
    sticky = flag.variant_stickiness or flag.stickiness
    population = await recent_keys(plane, sticky)
    order = [v.name for v in flag.variants]
    now = " ".join(f"{v.name}={v.weight}" for v in flag.variants)
    before = split_text(preview(flag, population), order)

    def hint(values: dict[str, str]) -> str:
        try:
            after = split_text(
                preview(proposed(flag, values.get("weights", "")), population), order
            )
        except Exception as exc:
            return str(exc)
        return f"{len(population)} recent {plural(sticky)}: {after} (now: {before})"

    def check(values: dict[str, str]) -> str | None:
        try:
            proposed(flag, values.get("weights", ""))
        except Exception as exc:
            return str(exc)
        return None

    return Ask(
        prefill={"weights": now},
        hint=hint,
        check=check,
        title=f"Weights of {flag.name} (now {now})",
    )
