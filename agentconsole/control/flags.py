"""Feature flags: typed, sticky percentage rollouts, allow/deny lists, targeting constraints,
variants with typed payloads and overrides; CAS on every change.

One evaluation (:meth:`Flag.resolve`) serves the SDK, the OpenFeature provider, the
console's preview and ``flags eval``: a flag is on for a context when it is enabled, the
sticky key is not denied, every constraint holds, and the key is allowed or inside the
rollout. A flag that is on serves one of its variants (override first, then by weight).
"""

from __future__ import annotations

import builtins
import dataclasses
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, NamedTuple

from agentconsole.control import codec
from agentconsole.control.bucketing import FULL, format_bp, in_rollout, parse_percent
from agentconsole.control.errors import CorruptValue, InvalidValue, NotFound
from agentconsole.control.rollouts import ACTIVE as ACTIVE_PLAN
from agentconsole.control.targeting import Constraint
from agentconsole.control.variants import VALUE_TYPES, Picker, Variant, check_variants

if TYPE_CHECKING:
    from agentconsole.control.plane import Change, ControlPlane

FLAG_TYPES = ("release", "experiment", "operational", "kill-switch")
STICKINESS = ("user", "tenant", "agent")
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
MAX_CONSTRAINTS = 50
EMPTY: Mapping[str, Any] = {}
# Fields a boolean flag of the first build never had: left out of its document when unused,
# so such a flag's stored form (and its audit entries) stay exactly what they were.
VALUED_FIELDS = ("value_type", "variants", "variant_stickiness", "constraints")


def check_name(name: str, what: str = "name") -> str:
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise InvalidValue(
            f"invalid {what} {name!r}: use letters, digits, '.', '_' or '-' (at most 128)"
        )
    return name


class Resolution(NamedTuple):
    """What a flag gives one context. ``reason`` says why it is on or off:
    on: ``static`` (everyone), ``targeted`` (constraints matched), ``allowed``, ``rollout``;
    off: ``disabled``, ``denied``, ``unmatched`` (a constraint failed), ``rollout``."""

    on: bool
    reason: str
    variant: str | None = None
    payload: Any = None
    overridden: bool = False


OFF_DISABLED = Resolution(False, "disabled")
OFF_DENIED = Resolution(False, "denied")
OFF_UNMATCHED = Resolution(False, "unmatched")
OFF_ROLLOUT = Resolution(False, "rollout")
ON_ALLOWED = Resolution(True, "allowed")
ON_ROLLOUT = Resolution(True, "rollout")
ON_TARGETED = Resolution(True, "targeted")
ON_STATIC = Resolution(True, "static")


@dataclass
class Flag:
    name: str
    type: str = "release"
    enabled: bool = False
    rollout_bp: int = FULL
    stickiness: str = "user"
    group: str = ""
    allow: list[str] = field(default_factory=list)
    deny: list[str] = field(default_factory=list)
    default: bool = False
    description: str = ""
    owner: str = ""
    changed_by: str = ""
    changed_at: float = 0.0
    reason: str = ""
    version: int = 0
    tracked: bool = False  # label run metrics by variant (docs/metrics.md)
    plan: dict[str, Any] | None = None  # a rollout plan, see control/rollouts.py
    value_type: str = "boolean"
    variants: tuple[Variant, ...] = ()
    variant_stickiness: str = ""
    constraints: tuple[Constraint, ...] = ()

    @property
    def labels_variants(self) -> bool:
        """Does the SDK label this flag's runs by variant? Bounded: tracked or under a plan."""
        return self.tracked or bool(self.plan and self.plan.get("state") in ACTIVE_PLAN)

    @property
    def rollout(self) -> str:
        return format_bp(self.rollout_bp)

    @property
    def is_kill_switch(self) -> bool:
        return self.type == "kill-switch"

    @property
    def targeted(self) -> bool:
        """Does the answer depend on who asks (a partial rollout, lists or constraints)?"""
        return self.rollout_bp < FULL or bool(self.allow or self.deny or self.constraints)

    def evaluate(self, key: str | None, context: Mapping[str, Any] | None = None) -> bool:
        """On or off for ``key``: the same in the SDK, the console's preview and the tests."""
        return self._gate(key, EMPTY if context is None else context).on

    def resolve(self, context: Mapping[str, Any]) -> Resolution:
        """On or off and the variant served, for a context keyed by field name."""
        key = context.get(self.stickiness)
        if key is not None and type(key) is not str:
            key = str(key)
        gate = self._gate(key or None, context)
        if not gate.on or not self.variants:
            return gate
        picker, served = self._picker()
        if self.variant_stickiness and self.variant_stickiness != self.stickiness:
            key = context.get(self.variant_stickiness)
            if key is not None and type(key) is not str:
                key = str(key)
        variant, forced = picker.pick(key or None, context)
        if variant is None:
            return gate
        # Variants are immutable: one Resolution per (variant, reason, forced), reused.
        slot = (variant.name, gate.reason, forced)
        result = served.get(slot)
        if result is None:
            result = served[slot] = Resolution(
                True, gate.reason, variant.name, variant.payload, forced
            )
        return result

    def _picker(self) -> tuple[Picker, dict[tuple[str, str, bool], Resolution]]:
        cached = self.__dict__.get("_picker_for")
        group = self.group or self.name
        if cached is None or cached[0] is not self.variants or cached[1].group != group:
            cached = (self.variants, Picker(self.variants, group), {})
            self.__dict__["_picker_for"] = cached
        return cached[1], cached[2]

    def _gate(self, key: str | None, context: Mapping[str, Any]) -> Resolution:
        if not self.enabled:
            return OFF_DISABLED
        if key is not None and key in self.deny:
            return OFF_DENIED
        for c in self.constraints:
            if not c.test(context):
                return OFF_UNMATCHED
        if key is not None and key in self.allow:
            return ON_ALLOWED
        if self.rollout_bp >= FULL:
            return ON_TARGETED if self.constraints else ON_STATIC
        return (
            ON_ROLLOUT if in_rollout(self.rollout_bp, self.group or self.name, key) else OFF_ROLLOUT
        )

    @property
    def total_weight(self) -> int:
        return self._picker()[0].total

    def variant(self, name: str) -> Variant | None:
        return next((v for v in self.variants if v.name == name), None)

    def check(self) -> Flag:
        """Every rule a stored flag must keep; refused here, before anything is written."""
        check_name(self.name, "flag name")
        if self.type not in FLAG_TYPES:
            raise InvalidValue(f"flag type must be one of {', '.join(FLAG_TYPES)}")
        for what, value in (
            ("stickiness", self.stickiness),
            ("variant stickiness", self.variant_stickiness),
        ):
            if value and value not in STICKINESS:
                raise InvalidValue(f"{what} must be one of {', '.join(STICKINESS)}, got {value!r}")
        check_variants(self.variants, self.value_type)
        if len(self.constraints) > MAX_CONSTRAINTS:
            raise InvalidValue(f"at most {MAX_CONSTRAINTS} constraints per flag")
        for c in self.constraints:
            c.check()
        return self

    def to_doc(self) -> dict[str, Any]:
        doc = {f.name: getattr(self, f.name) for f in fields(self)}
        doc["allow"], doc["deny"] = list(self.allow), list(self.deny)
        doc["variants"] = [v.to_doc() for v in self.variants]
        doc["constraints"] = [c.to_doc() for c in self.constraints]
        defaults = {
            "value_type": "boolean",
            "variants": [],
            "variant_stickiness": "",
            "constraints": [],
        }
        for name in VALUED_FIELDS:
            if doc[name] == defaults[name]:
                del doc[name]
        return doc

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Flag:
        try:
            flag = cls(
                name=str(doc["name"]),
                type=str(doc.get("type", "release")),
                enabled=bool(doc.get("enabled", False)),
                rollout_bp=int(doc.get("rollout_bp", FULL)),
                stickiness=str(doc.get("stickiness", "user")),
                group=str(doc.get("group", "")),
                allow=[str(x) for x in doc.get("allow", [])],
                deny=[str(x) for x in doc.get("deny", [])],
                default=bool(doc.get("default", False)),
                description=str(doc.get("description", "")),
                owner=str(doc.get("owner", "")),
                changed_by=str(doc.get("changed_by", "")),
                changed_at=float(doc.get("changed_at", 0.0)),
                reason=str(doc.get("reason", "")),
                version=int(doc.get("version", 0)),
                tracked=bool(doc.get("tracked", False)),
                plan=dict(doc["plan"]) if isinstance(doc.get("plan"), dict) else None,
                value_type=str(doc.get("value_type", "boolean")),
                variants=tuple(Variant.from_doc(v) for v in doc.get("variants") or ()),
                variant_stickiness=str(doc.get("variant_stickiness", "")),
                constraints=tuple(Constraint.from_doc(c) for c in doc.get("constraints") or ()),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            name = doc.get("name") if isinstance(doc, dict) else None
            raise CorruptValue(f"flag {name!r}: its document is malformed ({exc})") from None
        if flag.value_type not in VALUE_TYPES:
            raise CorruptValue(f"flag {flag.name!r} has an unknown value type {flag.value_type!r}")
        return flag


def key_context(
    flag: Flag, key: str | None, extra: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The context for "this key" (a user, tenant or agent id, as the flag is sticky by):
    ``extra`` fields, then the key in the flag's sticky field and, unless ``extra`` names it,
    in the variant stickiness field. OpenFeature's targeting key, ``flags eval`` and the
    console's preview all use this one rule."""
    ctx: dict[str, Any] = dict(extra or {})
    if key:
        for sticky in (flag.stickiness, flag.variant_stickiness):
            if sticky and not ctx.get(sticky):
                ctx[sticky] = key
    return ctx


def answer(flag: Flag, key: str | None, extra: Mapping[str, Any] | None = None) -> str:
    """The one-word answer for a key: the variant served, else "on" or "off"."""
    result = flag.resolve(key_context(flag, key, extra))
    return result.variant or ("on" if result.on else "off")


def preview(flag: Flag, keys: list[str], extra: Mapping[str, Any] | None = None) -> dict[str, int]:
    """How many of ``keys`` get each answer (variant names, else "on"/"off"): the console's
    preview of recent users before a weight change. No I/O."""
    counts: dict[str, int] = {}
    for key in keys:
        label = answer(flag, key, extra)
        counts[label] = counts.get(label, 0) + 1
    return counts


class Flags:
    def __init__(self, plane: ControlPlane) -> None:
        self.plane = plane

    async def list(self) -> tuple[list[Flag], list[str]]:
        """All flags, plus one problem line per entry that could not be read."""
        raw = await self.plane.redis.hgetall(self.plane.keys.flags)
        flags, problems = [], []
        for name, value in raw.items():
            label = codec.lenient_text(name)
            try:
                doc = codec.document(value, f"flag {label!r}")
                assert doc is not None
                flags.append(Flag.from_doc(doc))
            except CorruptValue as exc:
                problems.append(str(exc))
        flags.sort(key=lambda f: f.name)
        return flags, problems

    async def get(self, name: str) -> Flag:
        raw = await self.plane.redis.hget(self.plane.keys.flags, name)
        doc = codec.document(raw, f"flag {name!r}")
        if doc is None:
            raise NotFound(f"no flag named {name!r}")
        return Flag.from_doc(doc)

    async def create(
        self,
        name: str,
        *,
        type: str = "release",
        enabled: bool = False,
        rollout: str | float = 100,
        stickiness: str = "user",
        default: bool = False,
        description: str = "",
        owner: str = "",
        group: str = "",
        reason: str = "",
        value_type: str = "boolean",
        variants: tuple[Variant, ...] = (),
        variant_stickiness: str = "",
        constraints: tuple[Constraint, ...] = (),
    ) -> Flag:
        check_name(name, "flag name")
        if type not in FLAG_TYPES:
            raise InvalidValue(f"flag type must be one of {', '.join(FLAG_TYPES)}, got {type!r}")
        if stickiness not in STICKINESS:
            raise InvalidValue(
                f"stickiness must be one of {', '.join(STICKINESS)}, got {stickiness!r}"
            )
        flag = Flag(
            name=name,
            type=type,
            enabled=enabled,
            rollout_bp=_percent(rollout),
            stickiness=stickiness,
            group=group,
            default=default,
            description=description,
            owner=owner or self.plane.operator.name,
            value_type=value_type,
            variants=tuple(variants),
            variant_stickiness=variant_stickiness,
            constraints=tuple(constraints),
        )
        change = await self._write(flag, "flag.create", expected=0, reason=reason)
        return Flag.from_doc(change.doc or {})

    async def enable(
        self, name: str, *, reason: str = "", expected_version: int | None = None
    ) -> Flag:
        return await self._modify(name, "flag.enable", reason, expected_version, enabled=True)

    async def disable(
        self, name: str, *, reason: str = "", expected_version: int | None = None
    ) -> Flag:
        return await self._modify(name, "flag.disable", reason, expected_version, enabled=False)

    async def set_rollout(
        self,
        name: str,
        percent: str | float,
        *,
        reason: str = "",
        expected_version: int | None = None,
    ) -> Flag:
        bp = _percent(percent)
        return await self._modify(name, "flag.rollout", reason, expected_version, rollout_bp=bp)

    async def update(
        self,
        name: str,
        *,
        reason: str = "",
        expected_version: int | None = None,
        **changes: Any,
    ) -> Flag:
        allowed = {
            "allow",
            "deny",
            "description",
            "owner",
            "default",
            "stickiness",
            "type",
            "tracked",
        }
        unknown = set(changes) - allowed
        if unknown:
            raise InvalidValue(f"cannot change {', '.join(sorted(unknown))} with update")
        if "stickiness" in changes and changes["stickiness"] not in STICKINESS:
            raise InvalidValue(f"stickiness must be one of {', '.join(STICKINESS)}")
        if "type" in changes and changes["type"] not in FLAG_TYPES:
            raise InvalidValue(f"flag type must be one of {', '.join(FLAG_TYPES)}")
        return await self._modify(name, "flag.update", reason, expected_version, **changes)

    async def delete(
        self, name: str, *, reason: str = "", expected_version: int | None = None
    ) -> None:
        current = await self.get(name)
        version = current.version if expected_version is None else expected_version
        await self.plane.apply(
            hash_key=self.plane.keys.flags,
            field=name,
            entity="flag",
            action="flag.delete",
            new_doc=None,
            expected_version=version,
            reason=reason,
        )

    async def reshape(
        self,
        name: str,
        specs: builtins.list[tuple[str, int, str | None]],
        *,
        value_type: str | None = None,
        variant_stickiness: str | None = None,
        reason: str = "",
        expected_version: int | None = None,
    ) -> Flag:
        """Replace the variants from (name, weight, payload text) (``flag variants``)."""
        from agentconsole.control import flag_edits

        return await self._edit(
            name,
            "flag.variants",
            reason,
            expected_version,
            flag_edits.reshape,
            specs,
            value_type=value_type,
            variant_stickiness=variant_stickiness,
        )

    async def set_weights(
        self,
        name: str,
        weights: Mapping[str, int],
        *,
        reason: str = "",
        expected_version: int | None = None,
    ) -> Flag:
        from agentconsole.control import flag_edits

        return await self._edit(
            name, "flag.variants", reason, expected_version, flag_edits.set_weights, weights
        )

    async def set_payload(
        self,
        name: str,
        variant: str,
        payload: Any,
        *,
        reason: str = "",
        expected_version: int | None = None,
    ) -> Flag:
        """A payload of the wrong type for the flag is refused before anything is written."""
        from agentconsole.control import flag_edits

        return await self._edit(
            name,
            "flag.variants",
            reason,
            expected_version,
            flag_edits.set_payload,
            variant,
            payload,
        )

    async def set_override(
        self,
        name: str,
        context: str,
        value: str,
        variant: str | None,
        *,
        reason: str = "",
        expected_version: int | None = None,
        action: str = "flag.override",
    ) -> Flag:
        """Force one tenant/user/agent (``context`` = ``value``) to ``variant``; None clears.
        ``action`` names it in the audit (``tenant.move`` from a tenant row)."""
        from agentconsole.control import flag_edits

        return await self._edit(
            name, action, reason, expected_version, flag_edits.set_override, context, value, variant
        )

    async def set_constraints(
        self,
        name: str,
        constraints: tuple[Constraint, ...],
        *,
        reason: str = "",
        expected_version: int | None = None,
    ) -> Flag:
        from agentconsole.control import flag_edits

        return await self._edit(
            name,
            "flag.constraints",
            reason,
            expected_version,
            flag_edits.set_constraints,
            constraints,
        )

    async def import_steps(
        self, steps: builtins.list[Any], *, reason: str = ""
    ) -> builtins.list[tuple[str, str]]:
        """Write a checked import plan (``flag_files.plan``): each flag by compare-and-set at
        the version the plan read. Nothing is written if any step is a conflict or a
        permission is missing; a flag changed between plan and write is reported, not lost.
        Returns (flag, outcome) per step: created, updated, unchanged, or the error."""
        from agentconsole.control.errors import ControlError

        conflicts = [s for s in steps if s.kind == "conflict"]
        if conflicts:
            names = ", ".join(s.name for s in conflicts)
            raise InvalidValue(f"nothing imported: {len(conflicts)} conflict(s) ({names})")
        actions = {"create": "flag.create", "update": "flag.import", "delete": "flag.delete"}
        for step in steps:
            if step.kind in actions:
                self.plane.operator.require(actions[step.kind])
        done = {"create": "created", "update": "updated", "delete": "deleted"}
        outcomes = []
        for step in steps:
            if step.kind not in actions:
                outcomes.append((step.name, "unchanged"))
                continue
            try:
                if step.kind == "delete":
                    await self.delete(
                        step.name, reason=reason, expected_version=step.expected_version
                    )
                else:
                    await self._write(
                        dataclasses.replace(step.after),
                        actions[step.kind],
                        expected=step.expected_version,
                        reason=reason,
                    )
            except ControlError as exc:
                outcomes.append((step.name, f"not imported: {exc}"))
                continue
            outcomes.append((step.name, done[step.kind]))
        return outcomes

    async def _edit(
        self,
        name: str,
        action: str,
        reason: str,
        expected: int | None,
        edit: Callable[..., Flag],
        /,
        *args: Any,
        **kwargs: Any,
    ) -> Flag:
        """Write ``edit(flag, *args, **kwargs)`` of the flag as it is now, compare-and-set
        against ``expected`` (else the version just read), if the operator may ``action``."""
        self.plane.operator.require(action)
        current = await self.get(name)
        version = current.version if expected is None else expected
        flag = edit(current, *args, **kwargs)
        change = await self._write(flag, action, expected=version, reason=reason)
        return Flag.from_doc(change.doc or {})

    async def _modify(
        self, name: str, action: str, reason: str, expected: int | None, **changes: Any
    ) -> Flag:
        def changed(flag: Flag) -> Flag:
            return Flag.from_doc(flag.to_doc() | changes)

        return await self._edit(name, action, reason, expected, changed)

    async def _write(self, flag: Flag, action: str, *, expected: int, reason: str) -> Change:
        flag.check()  # nothing invalid reaches Redis: refused here, with what to fix
        flag.changed_by = self.plane.operator.name
        flag.changed_at = time.time()
        flag.reason = reason
        return await self.plane.apply(
            hash_key=self.plane.keys.flags,
            field=flag.name,
            entity="flag",
            action=action,
            new_doc=flag.to_doc(),
            expected_version=expected,
            reason=reason,
        )


def _percent(value: str | float) -> int:
    try:
        return parse_percent(value)
    except ValueError as exc:
        raise InvalidValue(str(exc)) from None
