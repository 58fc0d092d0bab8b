"""Feature flags: typed, sticky percentage rollouts, allow/deny lists, CAS on every change."""

from __future__ import annotations

import re
import time
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from agentconsole.control import codec
from agentconsole.control.bucketing import FULL, format_bp, in_rollout, parse_percent
from agentconsole.control.errors import CorruptValue, InvalidValue, NotFound
from agentconsole.control.rollouts import ACTIVE as ACTIVE_PLAN

if TYPE_CHECKING:
    from agentconsole.control.plane import Change, ControlPlane

FLAG_TYPES = ("release", "experiment", "operational", "kill-switch")
STICKINESS = ("user", "tenant", "agent")
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def check_name(name: str, what: str = "name") -> str:
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise InvalidValue(
            f"invalid {what} {name!r}: use letters, digits, '.', '_' or '-' (at most 128)"
        )
    return name


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

    def evaluate(self, key: str | None) -> bool:
        """Local evaluation, the same in the SDK, the console's preview and the tests."""
        if not self.enabled:
            return False
        if key is not None and key in self.deny:
            return False
        if key is not None and key in self.allow:
            return True
        return in_rollout(self.rollout_bp, self.group or self.name, key)

    def to_doc(self) -> dict[str, Any]:
        return asdict(self)

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
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise CorruptValue(f"flag document is malformed: {exc}") from None
        return flag


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
        )
        change = await self._write(flag, "flag.create", expected=0, reason=reason)
        return Flag.from_doc(change.doc or {})

    async def enable(self, name: str, *, reason: str = "", expected_version: int | None = None):
        return await self._modify(name, "flag.enable", reason, expected_version, enabled=True)

    async def disable(self, name: str, *, reason: str = "", expected_version: int | None = None):
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

    async def delete(self, name: str, *, reason: str = "", expected_version: int | None = None):
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

    async def _modify(
        self, name: str, action: str, reason: str, expected: int | None, **changes: Any
    ) -> Flag:
        self.plane.operator.require(action)
        current = await self.get(name)
        version = current.version if expected is None else expected
        doc = current.to_doc() | changes
        change = await self._write(Flag.from_doc(doc), action, expected=version, reason=reason)
        return Flag.from_doc(change.doc or {})

    async def _write(self, flag: Flag, action: str, *, expected: int, reason: str) -> Change:
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
