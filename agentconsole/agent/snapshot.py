"""The agent's local copy of the control plane, read in one pipeline and never partially.

Every decision on the hot path (flags, breakers, kills, budgets) reads this object only;
a new snapshot replaces the old one whole, so a reader never sees half an update.

Two ways a snapshot changes: a change event carrying the next version's document is
applied to a copy (:func:`patched`, no round trip), and anything else - a gap in the
version sequence, another epoch, an event without a document, the periodic resync - reads
the whole snapshot again (:func:`fetch`). Every fetched snapshot passes the
:class:`Keeper`, which refuses to let a wiped or replaced control plane disarm the fleet.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from agentconsole.control import codec
from agentconsole.control import holds as holdmod
from agentconsole.control.breakers import BreakerMode, BreakerObserved
from agentconsole.control.budgets import LIMIT_NAMES, Limits
from agentconsole.control.epoch import (
    EPOCH_CHANGED,
    EPOCH_MISSING,
    SCHEMA_MISSING,
    VERSION_BACKWARDS,
    Epoch,
    Holding,
)
from agentconsole.control.errors import CorruptValue
from agentconsole.control.flags import Flag
from agentconsole.control.keys import Keys
from agentconsole.control.kills import ALL

if TYPE_CHECKING:
    from agentconsole.agent.runtime import AgentRuntime
    from agentconsole.control.connection import RedisClient
    from agentconsole.control.events import ChangeEvent

# Entities that are versioned with the control plane but not part of an agent's snapshot.
NOT_IN_SNAPSHOT = frozenset({"silence", "incident", "approval", "tenant_cap"})


@dataclass
class Snapshot:
    version: int = 0
    flags: dict[str, Flag] = field(default_factory=dict)
    modes: dict[str, BreakerMode] = field(default_factory=dict)
    observed: dict[str, BreakerObserved] = field(default_factory=dict)
    kills: dict[str, dict[str, Any]] = field(default_factory=dict)
    holds: dict[str, dict[str, Any]] = field(default_factory=dict)  # drains, pauses by field
    limits: Limits = field(default_factory=Limits)
    fetched_at: float = 0.0  # time.monotonic() when read
    problems: list[str] = field(default_factory=list)
    schema: int | None = None  # None: no schema key (a fresh or a wiped Redis)
    epoch: Epoch | None = None
    unreadable: frozenset[str] = frozenset()  # parts whose key held the wrong type

    def kill_for(self, agent_id: str, tenant: str) -> dict[str, Any] | None:
        """The kill in force for this agent, if any (agent first, then tenant, then all)."""
        kills = self.kills
        if not kills:
            return None
        return kills.get(f"agent:{agent_id}") or kills.get(f"tenant:{tenant}") or kills.get(ALL)

    def hold_for(self, kind: str, agent_id: str, tenant: str) -> dict[str, Any] | None:
        """The drain or pause (``kind``) in force for this agent, if any."""
        return holdmod.hold_for(self.holds, kind, agent_id, tenant)


async def fetch(redis: RedisClient, keys: Keys, defaults: Limits) -> Snapshot:
    """One round trip: GET version, then HGETALL of flags, breakers, breaker_state, kills,
    budgets, holds, then the schema and the epoch.

    No MULTI: Redis runs the pipelined commands in order and every change is one atomic
    script, so everything read after the version is at least that new. Reporting that
    version as applied is therefore never an overstatement (a change landing in between
    is picked up by its own event). It also makes the read about a third cheaper.
    """
    from agentconsole.control.tolerant import problem_keys

    moment = time.monotonic()
    async with redis.pipeline(transaction=False) as pipe:
        pipe.get(keys.version)
        pipe.hgetall(keys.flags)
        pipe.hgetall(keys.breakers)
        pipe.hgetall(keys.breaker_state)
        pipe.hgetall(keys.kills)
        pipe.hgetall(keys.budgets)
        pipe.hgetall(keys.holds)
        pipe.get(keys.schema)
        pipe.get(keys.epoch)
        version, flags, modes, observed, kills, budgets, held, schema, epoch = await pipe.execute()
    snap = parse(flags, modes, observed, kills, budgets, version, defaults, held)
    bad = problem_keys(redis, moment)
    parts = {"flags": keys.flags, "modes": keys.breakers, "kills": keys.kills, "holds": keys.holds}
    parts |= {"limits": keys.budgets, "observed": keys.breaker_state}
    snap.unreadable = frozenset(part for part, key in parts.items() if key in bad)
    snap.problems += [
        f"{parts[p]}: wrong type of value, the last one read is kept"
        for p in sorted(snap.unreadable)
    ]
    snap.schema = int(codec.number(schema, -1)) if schema is not None else None
    snap.epoch = Epoch.parse(epoch)
    return snap


def parse(
    flags_raw: dict[Any, Any],
    modes_raw: dict[Any, Any],
    observed_raw: dict[Any, Any],
    kills_raw: dict[Any, Any],
    budgets_raw: dict[Any, Any],
    version_raw: Any,
    defaults: Limits,
    holds_raw: dict[Any, Any] | None = None,
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
    for name, raw in (holds_raw or {}).items():
        label = codec.lenient_text(name)
        try:
            snap.holds[label] = codec.document(raw, f"hold {label!r}") or {}
        except CorruptValue:
            # an unreadable hold still holds its target: fail closed, like a kill
            kind, target = holdmod.split(label)
            snap.holds[label] = {"kind": kind, "target": target, "reason": "unreadable hold"}
    snap.limits = _limits(budgets_raw, defaults, snap.problems)
    return snap


def patched(snap: Snapshot, event: ChangeEvent, defaults: Limits) -> Snapshot | None:
    """``snap`` with the event's document applied; None when the snapshot must be re-read.

    Applied only when the event is exactly the next version of the same epoch: a gap (a
    lost message), another epoch or an event without a document means re-read. An event
    the snapshot already covers returns ``snap`` itself (nothing to do).
    """
    if not event.has_doc:
        return None
    if event.entity == "breaker_state":  # agents' fleet-wide state: no version of its own
        if event.cp_version != snap.version:
            return None
        observed = BreakerObserved.from_doc(event.name, event.doc or {})
        return replace(snap, observed={**snap.observed, event.name: observed})
    if snap.epoch is None or event.epoch != snap.epoch.id:
        return None
    if event.cp_version <= snap.version:
        return snap
    if event.cp_version != snap.version + 1:
        return None
    new = replace(snap, version=event.cp_version, problems=[], fetched_at=time.monotonic())
    doc, name = event.doc, event.name
    try:
        if event.entity == "flag":
            new.flags = _put(snap.flags, name, event.decoded(Flag.from_doc) if doc else None)
        elif event.entity == "breaker":
            mode = event.decoded(BreakerMode.from_doc) if doc else None
            new.modes = _put(snap.modes, name, mode)
        elif event.entity == "kill":
            new.kills = _put(snap.kills, name, doc)
        elif event.entity == "hold":
            new.holds = _put(snap.holds, name, doc)
        elif event.entity == "budget":
            new.limits = _limits({"limits": codec.dump(doc or {})}, defaults, new.problems)
        elif event.entity not in NOT_IN_SNAPSHOT:
            return None  # a restore, or an entity this release does not know: re-read
    except CorruptValue:
        return None
    return new


def _put(items: dict[str, Any], name: str, value: Any) -> dict[str, Any]:
    out = dict(items)
    if value is None:
        out.pop(name, None)
    else:
        out[name] = value
    return out


def reset_reason(held: Snapshot | None, new: Snapshot) -> str | None:
    """Why ``new`` must not replace ``held`` (a wiped or replaced control plane), or None.

    An epoch an operator decided on (a restore, an accepted state) is always adopted; an
    agent that never saw a schema has nothing to protect.
    """
    if held is None or held.schema is None:
        return None
    if new.schema is None:
        return SCHEMA_MISSING
    if held.epoch is None:
        return None  # a control plane from before epochs: nothing to compare yet
    if new.epoch is None:
        return EPOCH_MISSING
    if new.epoch.id != held.epoch.id:
        return None if new.epoch.decided else EPOCH_CHANGED
    if new.version < held.version:
        return VERSION_BACKWARDS
    return None


def _same_epoch(a: Snapshot, b: Snapshot) -> bool:
    return (a.epoch.id if a.epoch else "") == (b.epoch.id if b.epoch else "")


def merged(held: Snapshot, new: Snapshot) -> Snapshot:
    """What a holding agent obeys: its held snapshot plus whatever is more restrictive now.

    Kills, drains, pauses, forced-open breakers and engaged kill switches issued after the
    reset apply (they can only make the fleet safer); nothing held is lifted or loosened.
    """
    flags = dict(held.flags)
    for name, flag in new.flags.items():
        if flag.is_kill_switch and not flag.enabled:
            flags[name] = flag
    modes = dict(held.modes)
    for name, mode in new.modes.items():
        if mode.effective() == "forced_open":
            modes[name] = mode
    return replace(
        held,
        flags=flags,
        modes=modes,
        kills={**new.kills, **held.kills},
        holds={**new.holds, **held.holds},
        observed=new.observed,
        fetched_at=new.fetched_at,
        problems=new.problems,
    )


class Keeper:
    """Decides what a fetched snapshot may replace; holds the last one through a reset.

    While holding, the runtime obeys :func:`merged`, reports itself in the registry
    (``{prefix}:reset:holders``: held epoch and version, so the operator sees which backup
    matches), logs one ``control.reset`` line and sets ``agent_control_reset`` to 1 - until
    an operator restores a backup or accepts the new state (a decided epoch).
    """

    def __init__(self, runtime: AgentRuntime) -> None:
        self.runtime = runtime
        self.held: Snapshot | None = None
        self.reason = ""
        self.since = 0.0

    @property
    def holding(self) -> bool:
        return self.held is not None

    async def admit(
        self, current: Snapshot | None, new: Snapshot, before: Snapshot | None = None
    ) -> Snapshot:
        """The snapshot to obey after reading ``new``; ``before`` is the one in force when
        the read began (an event can apply a newer version while the read is on its way:
        that read is stale, not a version going backwards)."""
        rt = self.runtime
        if (
            self.held is None
            and current is not None
            and before is not None
            and _same_epoch(current, new)
            and before.version <= new.version < current.version
        ):
            return current
        if new.unreadable and current is not None:
            # a wrong-typed key is not an empty one: keep what was last read (fail closed)
            new = replace(new, **{part: getattr(current, part) for part in new.unreadable})
        if self.held is None:
            reason = reset_reason(current, new)
            if reason is None:
                return new
            assert current is not None
            self.held, self.reason, self.since = current, reason, time.time()
            rt.metrics.control_reset.set(1)
            rt.log.warning(
                "control.reset",
                f"control plane reset ({reason}): holding the snapshot of version "
                f"{current.version} until an operator restores or accepts",
                reason=reason,
                held_version=current.version,
                held_epoch=current.epoch.id if current.epoch else "",
                new_epoch=new.epoch.id if new.epoch else "",
                new_version=new.version,
            )
        elif new.epoch is not None and new.epoch.decided and new.epoch.id != self._held_id:
            return await self._release(new)
        await self._report()
        return merged(self.held, new)

    @property
    def _held_id(self) -> str:
        return self.held.epoch.id if self.held is not None and self.held.epoch else ""

    async def _release(self, new: Snapshot) -> Snapshot:
        rt = self.runtime
        assert new.epoch is not None
        rt.log.warning(
            "control.reset_resolved",
            f"control plane {new.epoch.how} by {new.epoch.by}: applying version {new.version}",
            how=new.epoch.how,
            by=new.epoch.by,
            epoch=new.epoch.id,
            version=new.version,
        )
        self.held = None
        rt.metrics.control_reset.set(0)
        with contextlib.suppress(Exception):  # else the report ages out by itself
            await rt.control.redis.hdel(rt.control.keys.reset_holders, rt.name)
        return new

    async def _report(self) -> None:
        rt, held = self.runtime, self.held
        assert held is not None
        report = Holding(
            process=rt.name,
            epoch=self._held_id,
            version=held.version,
            runs=rt.active_runs,
            since=self.since,
            reason=self.reason,
            at=time.time(),
        )
        with contextlib.suppress(Exception):  # reported again with the next sync
            await rt.control.redis.hset(rt.control.keys.reset_holders, rt.name, report.dump())


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
