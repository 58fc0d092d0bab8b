"""Kill requests: one agent, a tenant, or everything (global stop).

A kill is stored durably in the ``kills`` hash (so an agent that missed the pub/sub message,
or starts later, still obeys it) and published at once. Asking twice changes nothing: the
second request returns the first one. Agents acknowledge in the registry when they stopped.
"""

from __future__ import annotations

import asyncio
import builtins
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from agentconsole.control import codec
from agentconsole.control.errors import (
    AlreadyExists,
    CorruptValue,
    InvalidValue,
    NotFound,
    checked_name,
)

if TYPE_CHECKING:
    from agentconsole.control.plane import ControlPlane
    from agentconsole.control.registry import AgentRecord

ALL = "all"
BRIEF_FIELDS = ("tenant", "status", "kill_id", "heartbeat_at")


def target_for(
    *, agent: str | None = None, tenant: str | None = None, everything: bool = False
) -> str:
    chosen = [x for x in (agent, tenant, everything or None) if x]
    if len(chosen) != 1:
        raise InvalidValue("choose exactly one kill target: an agent id, a tenant, or all")
    if agent:
        return f"agent:{checked_name(agent, 'agent id')}"
    if tenant:
        return f"tenant:{checked_name(tenant, 'tenant')}"
    return ALL


def matches(target: str, agent_id: str, tenant: str) -> bool:
    return target == ALL or target == f"agent:{agent_id}" or target == f"tenant:{tenant}"


def marked(docs: dict[str, dict[str, Any]], names: Iterable[str] | None = None) -> list[str]:
    """Kill targets or hold fields in force (``names`` of them, default all), sorted; one
    whose document does not parse reads ``tenant:acme (unreadable)``: still obeyed, and its
    ordinary lift row lifts it, so the operator must see that it is there."""
    chosen = sorted(docs if names is None else names)
    return [n + (" (unreadable)" if codec.UNREADABLE in docs.get(n, {}) else "") for n in chosen]


def _lift_words(target: str) -> str:
    """``tenant:acme`` -> ``tenant acme``: how a lift row names a target."""
    return target.replace(":", " ", 1)


async def lift_stored(
    plane: ControlPlane,
    hash_key: str,
    name: str,
    entity: str,
    action: str,
    reason: str,
    missing: str,
) -> dict[str, Any]:
    """Delete one kill or hold through the atomic apply path: by its version, or, when the
    stored value does not parse, by the value itself (the lift still works, and its audit
    entry says the document was unreadable). Returns what was lifted ({} if unreadable)."""
    raw = await plane.redis.hget(hash_key, name)
    if raw is None:
        raise NotFound(missing)
    if codec.problem(raw) is not None:
        data = raw if isinstance(raw, bytes) else str(raw).encode()
        await plane.apply(
            hash_key=hash_key,
            field=name,
            entity=entity,
            action=action,
            new_doc=None,
            expected_version=0,
            reason=reason,
            unreadable=data,
        )
        return {}
    doc = codec.document(raw, f"{entity} {name!r}") or {}
    await plane.apply(
        hash_key=hash_key,
        field=name,
        entity=entity,
        action=action,
        new_doc=None,
        expected_version=int(doc["version"]),
        reason=reason,
    )
    return doc


@dataclass
class KillOutcome:
    target: str
    kill: dict[str, Any]
    created: bool
    agents: list[str] = field(default_factory=list)


@dataclass
class AckReport:
    """Who acknowledged a kill, and when each acknowledgement was seen in Redis.

    The times are measured by the wait itself (``Kills.wait_for_acks``): seconds from the
    kill being issued to the poll that first read the acknowledgement from Redis. Not the
    agent's own stamp (``kill_ack_at``, when its run stopped): that one is taken before the
    acknowledgement is sent and can be far earlier than its landing (a busy process, an
    outage). A poll's time is an upper bound on the landing, late by at most one poll.
    """

    acknowledged: dict[str, float]  # agent id -> seconds from the kill to seeing its ack
    missing: list[str]
    ended: list[str] = field(default_factory=list)  # finished, failed or gone before the kill

    def summary(self, verb: str = "killed", timed: bool = True) -> str:
        """The outcome's text. ``timed=False`` leaves the time out: for a kill that was
        already in force its acknowledgements may predate this request by hours."""
        total = len(self.acknowledged) + len(self.missing)
        plural = "s" if total != 1 else ""
        text = f"{verb} {total} agent{plural}, "
        if self.acknowledged:
            last = max(self.acknowledged.values()) * 1000
            count = len(self.acknowledged)
            who = ("all " if count > 1 else "") + str(count) if not self.missing else str(count)
            text += f"{who} acknowledged"
            text += f" in Redis within {last:.0f} ms of the kill" if timed else ""
        else:
            text += "0 acknowledged"
        if self.missing:
            shown = ", ".join(self.missing[:5]) + (" ..." if len(self.missing) > 5 else "")
            text += f"; not acknowledged: {shown}"
        if self.ended:  # listed as affected, then stopped on their own: said, not hidden
            n = len(self.ended)
            text += f"; {n} more ended on {'their' if n > 1 else 'its'} own"
            text += " (finished, failed or left the registry)"
        return text


async def issue(
    plane: ControlPlane,
    hash_key: str,
    name: str,
    entity: str,
    action: str,
    reason: str,
    *,
    target: str,
    agent: str | None = None,
    **extra: Any,
) -> tuple[dict[str, Any], bool]:
    """Store a standing order (a kill, a drain, a pause) once: the role is checked, an
    agent target must be registered, and the one atomic apply audits and publishes it.
    Returns ``(document, created)``; asked again, the order in force and ``False``."""
    plane.operator.require(action)
    if agent and not await plane.agents.exists(agent):
        raise NotFound(f"no agent with id {agent!r} in the registry")
    doc: dict[str, Any] = {
        "id": uuid.uuid4().hex[:12],
        **extra,
        "target": target,
        "scope": target.split(":", 1)[0],
        "reason": reason,
        "requester": plane.operator.name,
        "role": plane.operator.role,
        "at": time.time(),
    }
    try:
        change = await plane.apply(
            hash_key=hash_key,
            field=name,
            entity=entity,
            action=action,
            new_doc=doc,
            expected_version=None,
            reason=reason,
        )
    except AlreadyExists as exc:
        return exc.current or {}, False
    return change.doc or doc, True


class Kills:
    def __init__(self, plane: ControlPlane) -> None:
        self.plane = plane

    async def list(self) -> tuple[dict[str, dict[str, Any]], list[str]]:
        raw = await self.plane.redis.hgetall(self.plane.keys.kills)
        kills, problems = {}, []
        for target, value in raw.items():
            label = codec.lenient_text(target)
            try:
                kills[label] = codec.document(value, f"kill {label!r}") or {}
            except CorruptValue as exc:
                # still in force for the agents (fail closed): listed so it can be lifted
                kills[label] = {codec.UNREADABLE: str(exc)}
                problems.append(
                    f"{self.plane.keys.kills} field {label!r}: {codec.problem(value)}; "
                    f"agents obey it; lift it: agentconsole do kill lift {_lift_words(label)}"
                )
        return kills, problems

    async def affected(self, target: str, kill_id: str = "") -> builtins.list[AgentRecord]:
        """Running agents that a kill of ``target`` stops (also the ones a UI filter hides).

        With ``kill_id``, agents that already acknowledged that kill count too: the kill is
        published before this list is read, so the fastest agents have stopped by then.
        Read from the registry's indexes, never capped: a tenant costs its own agents (its
        index intersected with the running index), a global stop every running agent.
        """
        from agentconsole.control.registry import AgentRecord

        scope, _, name = target.partition(":")
        if scope == "agent":
            found = await self.plane.agents.get_many([name], BRIEF_FIELDS)
            return [
                a
                for a in found
                if a.status in ("running", "paused", "draining", "killing")
                or (kill_id and a.status == "killed" and a.kill_id == kill_id)
            ]
        running, acked = await self._affected(target, kill_id)
        tenant = name if scope == "tenant" else ""
        state = "killing" if kill_id else "running"
        out = [AgentRecord(id=i, tenant=tenant, status=state) for i in running]
        out += [AgentRecord(id=i, tenant=tenant, status="killed", kill_id=kill_id) for i in acked]
        return out

    async def affected_ids(self, target: str, kill_id: str = "") -> builtins.list[str]:
        """The ids :meth:`affected` lists, without building a record per agent (100,000 of
        them cost more than the Redis reads)."""
        if target.startswith("agent:"):
            return [a.id for a in await self.affected(target, kill_id)]
        running, acked = await self._affected(target, kill_id)
        return running + acked

    async def _affected(
        self, target: str, kill_id: str
    ) -> tuple[builtins.list[str], builtins.list[str]]:
        """(running agents not yet acknowledged, agents that acknowledged ``kill_id``)."""
        scope, _, name = target.partition(":")
        running = await self.plane.agents.live_running(name if scope == "tenant" else None)
        acked = await self.plane.agents.acknowledged_ids(kill_id) if kill_id else []
        if acked:
            done = set(acked)
            running = [i for i in running if i not in done]
        return running, acked

    async def kill(
        self,
        *,
        agent: str | None = None,
        tenant: str | None = None,
        everything: bool = False,
        reason: str = "",
    ) -> KillOutcome:
        target = target_for(agent=agent, tenant=tenant, everything=everything)
        scope = target.split(":", 1)[0]
        action = {"agent": "kill.agent", "tenant": "kill.tenant", ALL: "kill.all"}[scope]
        doc, created = await issue(
            self.plane,
            self.plane.keys.kills,
            target,
            "kill",
            action,
            reason,
            target=target,
            agent=agent,
        )
        # Publish first, list afterwards: the registry read must not delay the kill itself.
        affected = await self.affected_ids(target, str(doc.get("id", "")))
        return KillOutcome(target, doc, created, affected)

    async def lift(self, target: str, *, reason: str = "") -> None:
        """Lift a kill so that new agents of that scope may run again."""
        self.plane.operator.require("kill.lift")
        await lift_stored(
            self.plane,
            self.plane.keys.kills,
            target,
            "kill",
            "kill.lift",
            reason,
            f"no kill in force for {target!r}",
        )

    async def wait_for_acks(
        self,
        agent_ids: builtins.list[str],
        since: float,
        timeout: float = 2.0,
        kill_ids: builtins.list[str] | None = None,
    ) -> AckReport:
        """Poll until every agent acknowledged, finished, or left, or the timeout passed.

        ``since`` is when the kill was issued (``time.time()`` in this process); each
        acknowledgement counts from then to the poll that read it from Redis, on this
        process's monotonic clock (see :class:`AckReport`). The acknowledgements come from
        the ack indexes of ``kill_ids`` (default: every kill in force), new ones only on
        each poll (``Registry.new_acknowledgements``), so waiting for 100,000 agents costs a
        few commands per partition per poll, not a read of every pending agent.
        """
        from agentconsole.control.registry import AckCursor

        issued = time.monotonic() - max(0.0, time.time() - since)
        if kill_ids is None:
            kills, _ = await self.list()
            kill_ids = [str(doc["id"]) for doc in kills.values() if doc.get("id")]
        if not kill_ids:
            return await self._wait_by_records(agent_ids, issued, timeout)
        deadline = time.monotonic() + timeout
        pending = set(agent_ids)
        acked: dict[str, float] = {}
        ended: set[str] = set()
        cursors = [AckCursor(kill_id) for kill_id in kill_ids]
        polls = 0
        while pending:
            before = len(pending)
            for cursor in cursors:
                fresh = await self.plane.agents.new_acknowledgements(cursor)
                seen = time.monotonic() - issued  # read back by now: landed by now
                for agent_id in fresh:
                    if agent_id in pending:
                        pending.discard(agent_id)
                        acked[agent_id] = seen
            polls += 1
            last = time.monotonic() >= deadline
            # The ones that ended on their own are looked for once the acknowledgements
            # stop coming (a poll after the first that read none new) and at the end: that
            # read costs every pending id, and while a kill is landing nearly all of them
            # are on their way (an operator beside the fleet would slow it down).
            if pending and ((polls > 1 and len(pending) == before) or last):
                settled = await self.plane.agents.settled(list(pending))
                pending -= settled
                ended |= settled
            if not pending or last:
                break
            await asyncio.sleep(0.02 if len(pending) < 10_000 else 0.1)
        return AckReport(acked, sorted(pending), sorted(ended))

    async def _wait_by_records(
        self, agent_ids: builtins.list[str], issued: float, timeout: float
    ) -> AckReport:
        deadline = time.monotonic() + timeout
        acked: dict[str, float] = {}
        ended: list[str] = []
        pending = list(agent_ids)
        while pending:
            records = await self.plane.agents.get_many(pending)
            seen = time.monotonic() - issued
            by_id = {r.id: r for r in records}
            for agent_id in list(pending):
                rec = by_id.get(agent_id)
                if rec is None or rec.status in ("finished", "failed"):
                    pending.remove(agent_id)
                    ended.append(agent_id)
                elif rec.status == "killed" and rec.kill_ack_at:
                    acked[agent_id] = seen
                    pending.remove(agent_id)
            if not pending or time.monotonic() >= deadline:
                break
            await asyncio.sleep(0.02)
        return AckReport(acked, pending, sorted(ended))
