"""Variants: the values a flag can serve, their weights, typed payloads and overrides.

A flag that is on for a context serves one of its variants. An override (a variant forced
for listed users, tenants, agents or any context field) wins; otherwise the variant is
chosen by weight, exactly as Unleash does: ``murmur3("{group}:{key}", seed 86028157) %
total + 1`` walked along the running weights, so the same key gets the same variant in
every process and in Unleash itself. Payloads are typed by the flag's ``value_type`` and
checked before anything is written: a number flag never serves a string.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from agentconsole.control.bucketing import variant_target
from agentconsole.control.errors import InvalidValue

VALUE_TYPES = ("boolean", "string", "number", "json")
MAX_VARIANTS = 50
MAX_WEIGHT = 1_000_000
MAX_PAYLOAD_BYTES = 8192
MAX_OVERRIDE_VALUES = 1000


@dataclass(frozen=True)
class Override:
    """Serve the variant to every context whose ``context`` field is one of ``values``."""

    context: str
    values: tuple[str, ...]
    # ``values`` as a set for the lookup, never passed, stored, shown or compared.
    members: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "members", frozenset(self.values))

    def to_doc(self) -> dict[str, Any]:
        return {"context": self.context, "values": list(self.values)}

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> Override:
        return cls(str(doc["context"]), tuple(str(v) for v in doc.get("values") or ()))


@dataclass(frozen=True)
class Variant:
    name: str
    weight: int = 1
    payload: Any = None
    overrides: tuple[Override, ...] = ()

    def to_doc(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"name": self.name, "weight": self.weight}
        if self.payload is not None:
            doc["payload"] = self.payload
        if self.overrides:
            doc["overrides"] = [o.to_doc() for o in self.overrides]
        return doc

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> Variant:
        return cls(
            name=str(doc["name"]),
            weight=int(doc.get("weight", 1)),
            payload=doc.get("payload"),
            overrides=tuple(Override.from_doc(o) for o in doc.get("overrides") or ()),
        )


def check_variants(
    variants: tuple[Variant, ...], value_type: str, *, stickiness: str = ""
) -> tuple[Variant, ...]:
    """Every rule of a variant list, with a message that names what to fix."""
    from agentconsole.control.flags import check_name

    if value_type not in VALUE_TYPES:
        raise InvalidValue(
            f"value type must be one of {', '.join(VALUE_TYPES)}, got {value_type!r}"
        )
    if len(variants) > MAX_VARIANTS:
        raise InvalidValue(f"at most {MAX_VARIANTS} variants per flag")
    seen: set[str] = set()
    forced: dict[tuple[str, str], str] = {}
    for v in variants:
        check_name(v.name, "variant name")
        if v.name in seen:
            raise InvalidValue(f"variant {v.name!r} appears twice")
        seen.add(v.name)
        if isinstance(v.weight, bool) or not isinstance(v.weight, int):
            raise InvalidValue(f"variant {v.name!r}: weight must be a whole number")
        if not 0 <= v.weight <= MAX_WEIGHT:
            raise InvalidValue(f"variant {v.name!r}: weight must be 0..{MAX_WEIGHT:,}")
        check_payload(v.payload, value_type, v.name)
        for o in v.overrides:
            check_name(o.context, "override context field")
            if not o.values or len(o.values) > MAX_OVERRIDE_VALUES:
                raise InvalidValue(
                    f"variant {v.name!r}: an override lists 1..{MAX_OVERRIDE_VALUES} values"
                )
            for value in o.values:
                check_key(value, "override value")
                other = forced.setdefault((o.context, value), v.name)
                if other != v.name:
                    raise InvalidValue(
                        f"{o.context} {value!r} is forced to both {other!r} and {v.name!r}"
                    )
    if variants and sum(v.weight for v in variants) <= 0:
        raise InvalidValue("variant weights must add up to more than 0")
    return variants


def check_key(value: str, what: str = "key") -> str:
    """A user, tenant or agent id: the one grammar for names (spaces are fine)."""
    from agentconsole import text

    try:
        return text.name(value, what)
    except text.Invalid as exc:
        raise InvalidValue(str(exc)) from None


def check_payload(payload: Any, value_type: str, variant: str = "") -> Any:
    """Refuse a payload of the wrong type (the flag declares one type for all its variants)."""
    where = f"variant {variant!r}: " if variant else ""
    if payload is None:
        return None
    if value_type == "boolean":
        raise InvalidValue(f"{where}a boolean flag's variants carry no payload")
    if value_type == "string" and not isinstance(payload, str):
        raise InvalidValue(f"{where}payload must be a string, got {_kind(payload)}")
    if value_type == "number" and (
        isinstance(payload, bool)
        or not isinstance(payload, int | float)
        or not math.isfinite(payload)
    ):
        raise InvalidValue(f"{where}payload must be a number, got {_kind(payload)}")
    try:
        size = len(json.dumps(payload, allow_nan=False))
    except (TypeError, ValueError):
        raise InvalidValue(
            f"{where}payload is not JSON (only objects, lists, text, numbers)"
        ) from None
    if size > MAX_PAYLOAD_BYTES:
        raise InvalidValue(f"{where}payload is {size:,} bytes; at most {MAX_PAYLOAD_BYTES:,}")
    return payload


def parse_payload(text: str, value_type: str) -> Any:
    """A payload typed on a command line or in a form: ``0.2`` for a number, JSON for json."""
    if value_type == "string":
        return text
    if value_type == "number":
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            value = text
        return check_payload(value, "number")
    if value_type == "json":
        try:
            return check_payload(json.loads(text), "json")
        except json.JSONDecodeError as exc:
            raise InvalidValue(f"payload is not valid JSON: {exc.msg} (at {exc.pos})") from None
    return check_payload(text, value_type)


def payload_text(value: Any, width: int) -> str:
    """A payload in one line for an operator: a string as it is, else its JSON; cut at
    ``width`` characters."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= width else text[: width - 1] + "…"


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "true/false"
    return {str: "text", int: "a number", float: "a number", dict: "an object", list: "a list"}.get(
        type(value), type(value).__name__
    ) + (f" {value!r}" if isinstance(value, str | int | float) else "")


class Picker:
    """A variant list prepared for the hot path: running weights and override sets, once.

    Unleash's rule: no weight at all serves nothing; the first variant with an override
    matching the context wins; else ``variant_target`` is walked along the running
    weights. Without a sticky key the choice is random, as in Unleash (nothing to stick to).
    """

    __slots__ = ("group", "memo", "overrides", "steps", "total")
    MEMO = 4096  # sticky keys remembered per flag (a run asks again and again)

    def __init__(self, variants: tuple[Variant, ...], group: str) -> None:
        self.group = group
        self.memo: dict[str, Variant | None] = {}
        self.total = sum(v.weight for v in variants)
        steps, running = [], 0
        for v in variants:
            if v.weight > 0:
                running += v.weight
                steps.append((running, v))
        self.steps = tuple(steps)
        self.overrides = tuple(
            (v, tuple((o.context, o.members) for o in v.overrides)) for v in variants if v.overrides
        )

    def pick(self, key: str | None, context: Mapping[str, Any]) -> tuple[Variant | None, bool]:
        """The variant for this context, and whether an override chose it."""
        if self.total <= 0:
            return None, False
        for variant, checks in self.overrides:
            for name, members in checks:
                value = context.get(name)
                if value is not None and (value if type(value) is str else str(value)) in members:
                    return variant, True
        if not key:
            return self.by_weight(str(round(random.random() * 100_000))), False
        try:
            return self.memo[key], False
        except KeyError:
            pass
        if len(self.memo) >= self.MEMO:
            self.memo.clear()
        chosen = self.memo[key] = self.by_weight(key)
        return chosen, False

    def by_weight(self, key: str) -> Variant | None:
        target = variant_target(self.group, key, self.total)
        for upto, variant in self.steps:
            if upto >= target:
                return variant
        return None
