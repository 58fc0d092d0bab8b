"""Circuit breakers per dependency: the operator's mode, and the state agents observe.

The operator's mode (auto, forced_open, forced_closed; optionally until a deadline) always
wins over the automatic state that agents compute and report in ``breaker_state``.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from agentconsole.control import codec
from agentconsole.control.errors import AlreadyExists, CorruptValue, InvalidValue, checked_name
from agentconsole.text import Invalid, duration

if TYPE_CHECKING:
    from agentconsole.control.plane import ControlPlane

MODES = ("auto", "forced_open", "forced_closed")


@dataclass
class BreakerMode:
    dependency: str
    mode: str = "auto"
    until: float | None = None
    changed_by: str = ""
    changed_at: float = 0.0
    reason: str = ""
    version: int = 0

    def effective(self, now: float | None = None) -> str:
        """The mode in force now: a timed trip reverts to auto by itself."""
        if self.mode != "auto" and self.until is not None and (now or time.time()) >= self.until:
            return "auto"
        return self.mode

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> BreakerMode:
        try:
            until = doc.get("until")
            return cls(
                dependency=str(doc["dependency"]),
                mode=str(doc.get("mode", "auto")) if doc.get("mode") in MODES else "auto",
                until=float(until) if until is not None else None,
                changed_by=str(doc.get("changed_by", "")),
                changed_at=float(doc.get("changed_at", 0.0)),
                reason=str(doc.get("reason", "")),
                version=int(doc.get("version", 0)),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise CorruptValue(f"breaker document is malformed: {exc}") from None


@dataclass
class BreakerObserved:
    """What the fleet's agents computed (written by the SDK's Lua transitions)."""

    dependency: str
    state: str = "closed"  # closed | open | half_open
    failure_rate: float = 0.0
    slow_rate: float = 0.0
    calls: int = 0
    rejected: int = 0
    opened_at: float | None = None
    last_transition: float = 0.0

    @classmethod
    def from_doc(cls, dependency: str, doc: dict[str, Any]) -> BreakerObserved:
        state = doc.get("state")
        opened = doc.get("opened_at")
        return cls(
            dependency=dependency,
            state=state if state in ("closed", "open", "half_open") else "closed",
            failure_rate=codec.number(doc.get("failure_rate")),
            slow_rate=codec.number(doc.get("slow_rate")),
            calls=int(codec.number(doc.get("calls"))),
            rejected=int(codec.number(doc.get("rejected"))),
            opened_at=codec.number(opened) if opened is not None else None,
            last_transition=codec.number(doc.get("last_transition")),
        )


@dataclass
class BreakerView:
    dependency: str
    mode: BreakerMode
    observed: BreakerObserved

    def state_at(self, now: float | None = None) -> str:
        """What agents do now: the operator's mode in force wins over the observed state."""
        mode = self.mode.effective(now)
        if mode == "forced_open":
            return "open"
        if mode == "forced_closed":
            return "closed"
        return self.observed.state

    @property
    def effective_state(self) -> str:
        return self.state_at()


class Breakers:
    def __init__(self, plane: ControlPlane) -> None:
        self.plane = plane

    async def list(self) -> tuple[list[BreakerView], list[str]]:
        keys = self.plane.keys
        async with self.plane.redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(keys.breakers)
            pipe.hgetall(keys.breaker_state)
            modes_raw, observed_raw = await pipe.execute()
        problems: list[str] = []
        modes: dict[str, BreakerMode] = {}
        for name, value in modes_raw.items():
            label = codec.lenient_text(name)
            try:
                modes[label] = BreakerMode.from_doc(
                    codec.document(value, f"breaker {label!r}") or {}
                )
            except CorruptValue as exc:
                problems.append(f"{exc}; reset it: agentconsole do breaker reset {label}")
        observed: dict[str, BreakerObserved] = {}
        for name, value in observed_raw.items():
            label = codec.lenient_text(name)
            try:
                doc = codec.document(value, f"breaker state {label!r}") or {}
            except CorruptValue as exc:
                problems.append(str(exc))
                doc = {}
            observed[label] = BreakerObserved.from_doc(label, doc)
        views = [
            BreakerView(
                dep,
                modes.get(dep, BreakerMode(dep)),
                observed.get(dep, BreakerObserved(dep)),
            )
            for dep in sorted(set(modes) | set(observed))
        ]
        return views, problems

    async def get(self, dependency: str) -> BreakerMode | None:
        raw = await self.plane.redis.hget(self.plane.keys.breakers, dependency)
        doc = codec.document(raw, f"breaker {dependency!r}")
        return BreakerMode.from_doc(doc) if doc else None

    async def trip(
        self, dependency: str, *, for_seconds: float | None = None, reason: str = ""
    ) -> BreakerMode:
        return await self._set(dependency, "forced_open", "breaker.trip", for_seconds, reason)

    async def force_close(
        self, dependency: str, *, for_seconds: float | None = None, reason: str = ""
    ) -> BreakerMode:
        return await self._set(
            dependency, "forced_closed", "breaker.force_close", for_seconds, reason
        )

    async def reset(self, dependency: str, *, reason: str = "") -> BreakerMode:
        """Back to automatic: the agents' own failure counting decides again.

        A mode that does not parse (the agents skip it) is deleted, compared by its value,
        so the reset works for it too and leaves one audit entry saying it was unreadable."""
        checked_name(dependency, "dependency name")
        self.plane.operator.require("breaker.reset")
        raw = await self.plane.redis.hget(self.plane.keys.breakers, dependency)
        if raw is not None and codec.problem(raw) is not None:
            await self.plane.apply(
                hash_key=self.plane.keys.breakers,
                field=dependency,
                entity="breaker",
                action="breaker.reset",
                new_doc=None,
                expected_version=0,
                reason=reason,
                unreadable=raw if isinstance(raw, bytes) else str(raw).encode(),
            )
            return BreakerMode(dependency, changed_by=self.plane.operator.name, reason=reason)
        return await self._set(dependency, "auto", "breaker.reset", None, reason)

    async def _set(
        self,
        dependency: str,
        mode: str,
        action: str,
        for_seconds: float | None,
        reason: str,
        expected_version: int | None = None,
    ) -> BreakerMode:
        checked_name(dependency, "dependency name")
        self.plane.operator.require(action)
        if for_seconds is not None:
            try:  # the one bound (text.DURATION_MAX), before anything is written
                for_seconds = duration(for_seconds)
            except Invalid as exc:
                raise InvalidValue(str(exc)) from None
        current = await self.get(dependency)
        version = (
            expected_version
            if expected_version is not None
            else (current.version if current else 0)
        )
        now = time.time()
        new = BreakerMode(
            dependency=dependency,
            mode=mode,
            until=now + for_seconds if for_seconds else None,
            changed_by=self.plane.operator.name,
            changed_at=now,
            reason=reason,
        )
        try:
            change = await self.plane.apply(
                hash_key=self.plane.keys.breakers,
                field=dependency,
                entity="breaker",
                action=action,
                new_doc=asdict(new),
                expected_version=version,
                reason=reason,
            )
        except AlreadyExists as exc:
            from agentconsole.control.plane import lost_race

            raise lost_race("breaker", dependency, exc) from None
        return BreakerMode.from_doc(change.doc or {})
