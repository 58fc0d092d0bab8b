"""The agent's local copy of the control plane, read in one pipeline and never partially.

Every decision on the hot path (flags, breakers, kills, budgets) reads this object only;
a new snapshot replaces the old one whole, so a reader never sees half an update.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from agentconsole.control import codec
from agentconsole.control.breakers import BreakerMode, BreakerObserved
from agentconsole.control.budgets import LIMIT_NAMES, Limits
from agentconsole.control.errors import CorruptValue
from agentconsole.control.flags import Flag
from agentconsole.control.keys import Keys
from agentconsole.control.kills import ALL


@dataclass
class Snapshot:
    version: int = 0
    flags: dict[str, Flag] = field(default_factory=dict)
    modes: dict[str, BreakerMode] = field(default_factory=dict)
    observed: dict[str, BreakerObserved] = field(default_factory=dict)
    kills: dict[str, dict[str, Any]] = field(default_factory=dict)
    limits: Limits = field(default_factory=Limits)
    fetched_at: float = 0.0  # time.monotonic() when read
    problems: list[str] = field(default_factory=list)

    def kill_for(self, agent_id: str, tenant: str) -> dict[str, Any] | None:
        """The kill in force for this agent, if any (agent first, then tenant, then all)."""
        kills = self.kills
        if not kills:
            return None
        return kills.get(f"agent:{agent_id}") or kills.get(f"tenant:{tenant}") or kills.get(ALL)


async def fetch(redis: Any, keys: Keys, defaults: Limits) -> Snapshot:
    """One round trip: GET version, then HGETALL of flags, breakers, breaker_state, kills,
    budgets.

    No MULTI: Redis runs the pipelined commands in order and every change is one atomic
    script, so everything read after the version is at least that new. Reporting that
    version as applied is therefore never an overstatement (a change landing in between
    is picked up by its own event). It also makes the read about a third cheaper.
    """
    async with redis.pipeline(transaction=False) as pipe:
        pipe.get(keys.version)
        pipe.hgetall(keys.flags)
        pipe.hgetall(keys.breakers)
        pipe.hgetall(keys.breaker_state)
        pipe.hgetall(keys.kills)
        pipe.hgetall(keys.budgets)
        version, flags, modes, observed, kills, budgets = await pipe.execute()
    return parse(flags, modes, observed, kills, budgets, version, defaults)


def parse(
    flags_raw: dict[Any, Any],
    modes_raw: dict[Any, Any],
    observed_raw: dict[Any, Any],
    kills_raw: dict[Any, Any],
    budgets_raw: dict[Any, Any],
    version_raw: Any,
    defaults: Limits,
) -> Snapshot:
    """Lenient: one corrupt entry is skipped (and listed in ``problems``), never fatal."""
    snap = Snapshot(version=int(codec.number(version_raw)), fetched_at=time.monotonic())
    for name, raw in flags_raw.items():
        label = codec.lenient_text(name)
        try:
            snap.flags[label] = Flag.from_doc(codec.document(raw, f"flag {label!r}") or {})
        except CorruptValue as exc:
            snap.problems.append(str(exc))
    for name, raw in modes_raw.items():
        label = codec.lenient_text(name)
        try:
            snap.modes[label] = BreakerMode.from_doc(codec.document(raw, label) or {})
        except CorruptValue as exc:
            snap.problems.append(str(exc))
    for name, raw in observed_raw.items():
        label = codec.lenient_text(name)
        try:
            doc = codec.document(raw, label) or {}
        except CorruptValue:
            doc = {}
        snap.observed[label] = BreakerObserved.from_doc(label, doc)
    for name, raw in kills_raw.items():
        label = codec.lenient_text(name)
        try:
            snap.kills[label] = codec.document(raw, f"kill {label!r}") or {}
        except CorruptValue:
            # an unreadable kill still stops its target: fail closed
            snap.kills[label] = {"target": label, "reason": "unreadable kill document"}
    snap.limits = _limits(budgets_raw, defaults, snap.problems)
    return snap


def _limits(raw: dict[Any, Any], defaults: Limits, problems: list[str]) -> Limits:
    limits = Limits(**{name: getattr(defaults, name) for name in LIMIT_NAMES})
    doc_raw = raw.get(b"limits", raw.get("limits"))
    try:
        doc = codec.document(doc_raw, "budget limits") or {}
    except CorruptValue as exc:
        problems.append(str(exc))
        return limits
    for name in (*LIMIT_NAMES, "version"):
        if name in doc:
            kind = type(getattr(limits, name))
            try:
                setattr(limits, name, kind(doc[name]))
            except (TypeError, ValueError):
                problems.append(f"budget limit {name}: unreadable value")
    return limits
