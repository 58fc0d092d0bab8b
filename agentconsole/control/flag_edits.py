"""Pure edits of a flag's variants, payloads, overrides and constraints.

Each takes a flag and returns the changed copy (never touching the one passed in), so the
control plane, ``flags import``'s dry run and the console's preview compute exactly the
same result; :meth:`Flag.check` then refuses anything invalid before it is written.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from agentconsole.control.errors import InvalidValue, NotFound
from agentconsole.control.flags import Flag
from agentconsole.control.targeting import Constraint
from agentconsole.control.variants import Override, Variant, check_key, check_payload


def existing_variant(flag: Flag, name: str) -> Variant:
    """The flag's variant ``name``, or a refusal that lists the ones it has."""
    found = flag.variant(name)
    if found is None:
        names = ", ".join(v.name for v in flag.variants) or "none"
        raise NotFound(f"flag {flag.name!r} has no variant {name!r} (variants: {names})")
    return found


def _replace(flag: Flag, variants: tuple[Variant, ...]) -> Flag:
    return dataclasses.replace(flag, variants=variants)


def set_variants(
    flag: Flag,
    variants: tuple[Variant, ...],
    *,
    value_type: str | None = None,
    variant_stickiness: str | None = None,
) -> Flag:
    changes: dict[str, Any] = {"variants": tuple(variants)}
    if value_type is not None:
        changes["value_type"] = value_type
    if variant_stickiness is not None:
        changes["variant_stickiness"] = variant_stickiness
    return dataclasses.replace(flag, **changes)


def parse_variant_spec(text: str) -> tuple[str, int, str | None]:
    """``cheap=10`` or ``cheap=10:gpt-4o-mini`` (the payload as typed, after the first ':')."""
    name, sep, rest = text.strip().partition("=")
    if not sep or not name.strip():
        raise InvalidValue(f"a variant reads NAME=WEIGHT[:PAYLOAD], got {text.strip()!r}")
    weight_text, colon, payload = rest.partition(":")
    try:
        weight = int(weight_text.strip())
    except ValueError:
        raise InvalidValue(f"the weight of {name.strip()!r} must be a whole number") from None
    return name.strip(), weight, payload if colon else None


def reshape(
    flag: Flag,
    specs: Sequence[tuple[str, int, str | None]],
    *,
    value_type: str | None = None,
    variant_stickiness: str | None = None,
) -> Flag:
    """A new variant list from (name, weight, payload text or None) in order. A variant that
    stays keeps its overrides, and its payload unless one is given (or the type changes)."""
    from agentconsole.control.variants import parse_payload

    kind = value_type or flag.value_type
    variants = []
    for name, weight, text in specs:
        kept = flag.variant(name)
        if text is not None:
            payload = parse_payload(text, kind)
        else:
            payload = kept.payload if kept is not None and kind == flag.value_type else None
        variants.append(Variant(name, weight, payload, kept.overrides if kept else ()))
    return set_variants(
        flag, tuple(variants), value_type=value_type, variant_stickiness=variant_stickiness
    )


def set_weights(flag: Flag, weights: Mapping[str, int]) -> Flag:
    """New weights for the variants named; the others keep theirs."""
    for name in weights:
        existing_variant(flag, name)
    return _replace(
        flag,
        tuple(
            dataclasses.replace(v, weight=weights[v.name]) if v.name in weights else v
            for v in flag.variants
        ),
    )


def set_payload(flag: Flag, variant: str, payload: Any) -> Flag:
    existing_variant(flag, variant)
    check_payload(payload, flag.value_type, variant)
    return _replace(
        flag,
        tuple(
            dataclasses.replace(v, payload=payload) if v.name == variant else v
            for v in flag.variants
        ),
    )


def set_override(flag: Flag, context: str, value: str, variant: str | None) -> Flag:
    """Force ``context == value`` onto ``variant`` (None: back to the weights).

    The value leaves any other variant's override first, so "move this tenant to cheap"
    is one change whatever variant the tenant was forced to before.
    """
    check_key(value, f"{context} value")
    if variant is not None:
        existing_variant(flag, variant)
    changed = []
    for v in flag.variants:
        overrides = []
        for o in v.overrides:
            values = o.values
            if o.context == context:
                values = tuple(x for x in o.values if x != value)
            if values:
                overrides.append(Override(o.context, values))
        if v.name == variant:
            existing = next((o for o in overrides if o.context == context), None)
            if existing is None:
                overrides.append(Override(context, (value,)))
            else:
                overrides[overrides.index(existing)] = Override(context, (*existing.values, value))
        changed.append(dataclasses.replace(v, overrides=tuple(overrides)))
    return _replace(flag, tuple(changed))


def forced_variant(flag: Flag, context: str, value: str) -> str | None:
    """The variant ``context == value`` is forced to, if any."""
    for v in flag.variants:
        for o in v.overrides:
            if o.context == context and value in o.values:
                return v.name
    return None


def set_constraints(flag: Flag, constraints: tuple[Constraint, ...]) -> Flag:
    return dataclasses.replace(flag, constraints=tuple(constraints))


def parse_weights(text: str) -> dict[str, int]:
    """``standard=90,cheap=10`` -> {"standard": 90, "cheap": 10}."""
    weights: dict[str, int] = {}
    for item in text.split(","):
        name, sep, raw = item.strip().partition("=")
        if not sep or not name.strip():
            raise InvalidValue(
                f"weights look like VARIANT=WEIGHT (standard=90 cheap=10); got {item.strip()!r}"
            )
        try:
            weights[name.strip()] = int(raw.strip())
        except ValueError:
            raise InvalidValue(f"weight of {name.strip()!r} must be a whole number") from None
    return weights
