"""The agent registry: what each running agent reports about itself.

Written by the SDK (register, heartbeat, finish, kill acknowledgement); read by the console
and the CLI through sorted-set indexes, so listing the freshest N agents or the top N by
tokens or cost never touches every agent.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from agentconsole.control import codec

if TYPE_CHECKING:
    from agentconsole.control.plane import ControlPlane

STATUSES = ("running", "killing", "killed", "finished", "failed", "dead")
ORDERS = ("heartbeat", "tokens", "cost")


@dataclass
class AgentRecord:
    id: str
    task: str = ""
    user: str = ""
    tenant: str = ""
    model: str = ""
    trace_id: str = ""
    host: str = ""
    pid: int = 0
    started_at: float = 0.0
    heartbeat_at: float = 0.0
    steps: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    cost: float = 0.0
    status: str = "running"
    applied_version: int = 0
    kill_id: str = ""
    killed_by: str = ""
    kill_reason: str = ""
    kill_ack_at: float = 0.0

    @property
    def tokens(self) -> int:
        return self.tokens_in + self.tokens_out

    def fields(self) -> dict[str, str]:
        return {k: str(v) for k, v in asdict(self).items()}

    @classmethod
    def from_hash(cls, agent_id: str, raw: dict[Any, Any]) -> AgentRecord:
        """Lenient: a buggy agent's values show as text or zero, never crash the reader."""
        get = {codec.lenient_text(k): v for k, v in raw.items()}
        status = codec.lenient_text(get.get("status")) or "running"
        return cls(
            id=agent_id,
            task=codec.lenient_text(get.get("task")),
            user=codec.lenient_text(get.get("user")),
            tenant=codec.lenient_text(get.get("tenant")),
            model=codec.lenient_text(get.get("model")),
            trace_id=codec.lenient_text(get.get("trace_id")),
            host=codec.lenient_text(get.get("host")),
            pid=int(codec.number(get.get("pid"))),
            started_at=codec.number(get.get("started_at")),
            heartbeat_at=codec.number(get.get("heartbeat_at")),
            steps=int(codec.number(get.get("steps"))),
            tokens_in=int(codec.number(get.get("tokens_in"))),
            tokens_out=int(codec.number(get.get("tokens_out"))),
            cost=codec.number(get.get("cost")),
            status=status if status in STATUSES else "running",
            applied_version=int(codec.number(get.get("applied_version"))),
            kill_id=codec.lenient_text(get.get("kill_id")),
            killed_by=codec.lenient_text(get.get("killed_by")),
            kill_reason=codec.lenient_text(get.get("kill_reason")),
            kill_ack_at=codec.number(get.get("kill_ack_at")),
        )


class Registry:
    def __init__(self, plane: ControlPlane) -> None:
        self.plane = plane

    @property
    def dead_after(self) -> float:
        return self.plane.settings.registry.dead_after_seconds

    @property
    def ttl(self) -> int:
        """An agent's hash expires this long after its last write: Redis cleans up by itself."""
        return max(1, int(self.plane.settings.registry.reap_after_seconds))

    # --- written by agents -----------------------------------------------------------

    async def register(self, record: AgentRecord) -> None:
        k = self.plane.keys
        now = time.time()
        record.started_at = record.started_at or now
        record.heartbeat_at = now
        async with self.plane.redis.pipeline(transaction=True) as pipe:
            pipe.hset(k.agent(record.id), mapping=record.fields())
            pipe.expire(k.agent(record.id), self.ttl)
            pipe.zadd(k.agents_by_heartbeat, {record.id: now})
            pipe.zadd(k.agents_by_tokens, {record.id: record.tokens})
            pipe.zadd(k.agents_by_cost, {record.id: record.cost})
            pipe.zadd(k.agents_applied, {record.id: record.applied_version})
            await pipe.execute()

    async def heartbeat(self, record: AgentRecord) -> None:
        """Counters are absolute values from the agent, so a retried heartbeat is harmless."""
        k = self.plane.keys
        record.heartbeat_at = time.time()
        fields = {
            "heartbeat_at": record.heartbeat_at,
            "steps": record.steps,
            "tokens_in": record.tokens_in,
            "tokens_out": record.tokens_out,
            "cost": record.cost,
            "applied_version": record.applied_version,
            "model": record.model,
        }
        async with self.plane.redis.pipeline(transaction=True) as pipe:
            pipe.hset(k.agent(record.id), mapping={f: str(v) for f, v in fields.items()})
            pipe.expire(k.agent(record.id), self.ttl)
            pipe.zadd(k.agents_by_heartbeat, {record.id: record.heartbeat_at})
            pipe.zadd(k.agents_by_tokens, {record.id: record.tokens})
            pipe.zadd(k.agents_by_cost, {record.id: record.cost})
            pipe.zadd(k.agents_applied, {record.id: record.applied_version})
            await pipe.execute()

    async def write_many(
        self, records: list[AgentRecord], fields: tuple[str, ...] | None = None
    ) -> None:
        """Records in one pipeline: the SDK's batched registration and heartbeat.

        ``fields`` limits the hash write to those fields (a heartbeat sends only what
        changes). Values are absolute, so a batch retried after a Redis outage is harmless.
        """
        if not records:
            return
        k = self.plane.keys
        now = time.time()
        for record in records:
            record.started_at = record.started_at or now
            record.heartbeat_at = now
        async with self.plane.redis.pipeline(transaction=False) as pipe:
            for record in records:
                # vars() rather than fields(): asdict() deep-copies, too slow for 1,000 rows
                values = vars(record)
                if fields is not None:
                    values = {f: values[f] for f in fields}
                pipe.hset(k.agent(record.id), mapping={f: str(v) for f, v in values.items()})
                pipe.expire(k.agent(record.id), self.ttl)
            pipe.zadd(k.agents_by_heartbeat, {r.id: now for r in records})
            pipe.zadd(k.agents_by_tokens, {r.id: r.tokens for r in records})
            pipe.zadd(k.agents_by_cost, {r.id: r.cost for r in records})
            pipe.zadd(k.agents_applied, {r.id: r.applied_version for r in records})
            await pipe.execute()

    async def finish(self, record: AgentRecord, status: str) -> None:
        record.status = status
        await self.heartbeat(record)
        await self.plane.redis.hset(self.plane.keys.agent(record.id), "status", status)

    async def acknowledge_kill(self, record: AgentRecord, kill: dict[str, Any]) -> None:
        record.status = "killed"
        record.kill_ack_at = time.time()
        record.kill_id = str(kill.get("id", ""))
        record.killed_by = str(kill.get("requester", ""))
        record.kill_reason = str(kill.get("reason", ""))
        await self.plane.redis.hset(
            self.plane.keys.agent(record.id),
            mapping={
                "status": "killed",
                "kill_ack_at": str(record.kill_ack_at),
                "kill_id": record.kill_id,
                "killed_by": record.killed_by,
                "kill_reason": record.kill_reason,
            },
        )

    # --- read by operators -----------------------------------------------------------

    async def count(self) -> int:
        return int(await self.plane.redis.zcard(self.plane.keys.agents_by_heartbeat))

    async def list(
        self,
        *,
        order: str = "heartbeat",
        limit: int = 1000,
        fields: tuple[str, ...] | None = None,
    ) -> list[AgentRecord]:
        """The ``limit`` agents first in ``order`` (freshest heartbeat, most tokens, most cost).

        ``fields`` reads only those fields (the rest keep their defaults): a kill's scan of
        the whole fleet needs four fields, not twenty.
        """
        k = self.plane.keys
        index = {
            "heartbeat": k.agents_by_heartbeat,
            "tokens": k.agents_by_tokens,
            "cost": k.agents_by_cost,
        }[order]
        ids = [codec.lenient_text(i) for i in await self.plane.redis.zrevrange(index, 0, limit - 1)]
        return await self.get_many(ids, fields)

    async def get_many(
        self, ids: list[str], fields: tuple[str, ...] | None = None
    ) -> list[AgentRecord]:
        if not ids:
            return []
        kills = await self._kill_targets()
        async with self.plane.redis.pipeline(transaction=False) as pipe:
            for agent_id in ids:
                key = self.plane.keys.agent(agent_id)
                pipe.hmget(key, fields) if fields else pipe.hgetall(key)
            rows = await pipe.execute()
        now = time.time()
        records = []
        for agent_id, raw in zip(ids, rows, strict=True):
            if fields:
                raw = {f: v for f, v in zip(fields, raw, strict=True) if v is not None}
            if raw:
                records.append(self._derive(AgentRecord.from_hash(agent_id, raw), kills, now))
        return records

    async def get(self, agent_id: str) -> AgentRecord | None:
        found = await self.get_many([agent_id])
        return found[0] if found else None

    async def exists(self, agent_id: str) -> bool:
        return bool(await self.plane.redis.exists(self.plane.keys.agent(agent_id)))

    async def applied_counts(self) -> tuple[int, int, int]:
        """(live agents at the current control-plane version, live agents, current version).

        Only live agents count: a dead agent that once applied the latest version must not
        make the fleet look up to date.
        """
        k = self.plane.keys
        since = time.time() - self.dead_after
        async with self.plane.redis.pipeline(transaction=False) as pipe:
            pipe.get(k.version)
            pipe.zrangebyscore(k.agents_by_heartbeat, since, "+inf")
            raw_version, live_ids = await pipe.execute()
        version = int(raw_version or 0)
        if not live_ids:
            return 0, 0, version
        scores = await self.plane.redis.zmscore(k.agents_applied, live_ids)
        current = sum(1 for score in scores if score is not None and score >= version)
        return current, len(live_ids), version

    async def reap(self, *, reason: str = "") -> int:
        """Forget agents whose last heartbeat is older than the reap interval.

        An operator action (role ``agent.reap``): the audit entry naming the forgotten agents
        is written in the same MULTI/EXEC as the deletion.
        """
        from agentconsole.control.plane import AUDIT_MAXLEN

        operator = self.plane.operator
        operator.require("agent.reap")
        k = self.plane.keys
        cutoff = time.time() - self.plane.settings.registry.reap_after_seconds
        stale = await self.plane.redis.zrangebyscore(k.agents_by_heartbeat, "-inf", cutoff)
        if not stale:
            return 0
        ids = [codec.lenient_text(i) for i in stale]
        version = int(await self.plane.redis.get(k.version) or 0)
        entry = {
            "ts": f"{time.time():.3f}",
            "actor": operator.name,
            "role": operator.role,
            "action": "agent.reap",
            "entity": "agent",
            "target": f"{len(ids)} agent{'s' * (len(ids) != 1)}",
            "before": codec.dump({"agents": ids[:100], "count": len(ids)}),
            "after": "",
            "reason": reason,
            "cp_version": version,
        }
        async with self.plane.redis.pipeline(transaction=True) as pipe:
            pipe.xadd(k.audit, entry, maxlen=AUDIT_MAXLEN, approximate=True)
            for agent_id in ids:
                pipe.delete(k.agent(agent_id))
                pipe.hdel(k.kills, f"agent:{agent_id}")
            for index in (
                k.agents_by_heartbeat,
                k.agents_by_tokens,
                k.agents_by_cost,
                k.agents_applied,
            ):
                pipe.zrem(index, *ids)
            await pipe.execute()
        return len(ids)

    async def prune(self, batch: int = 500) -> int:
        """Drop index entries of agents silent past the reap interval (their hashes expired).

        Housekeeping, not an operator action: it changes nothing an operator set, so it
        needs no role or audit entry, and agents run it (their ACL user may). ``reap`` is the
        audited operator action that also removes the kill records of reaped agents.
        """
        k = self.plane.keys
        cutoff = time.time() - self.plane.settings.registry.reap_after_seconds
        stale = await self.plane.redis.zrangebyscore(
            k.agents_by_heartbeat, "-inf", cutoff, start=0, num=batch
        )
        if not stale:
            return 0
        async with self.plane.redis.pipeline(transaction=True) as pipe:
            for index in (
                k.agents_by_heartbeat,
                k.agents_by_tokens,
                k.agents_by_cost,
                k.agents_applied,
            ):
                pipe.zrem(index, *stale)
            await pipe.execute()
        return len(stale)

    async def _kill_targets(self) -> set[str]:
        return {codec.lenient_text(t) for t in await self.plane.redis.hkeys(self.plane.keys.kills)}

    def _derive(self, rec: AgentRecord, kills: set[str], now: float) -> AgentRecord:
        """Status as an operator needs it: 'killing' until acknowledged, 'dead' when silent."""
        if rec.status == "running":
            if {f"agent:{rec.id}", f"tenant:{rec.tenant}", "all"} & kills:
                rec.status = "killing"
            elif now - rec.heartbeat_at > self.dead_after:
                rec.status = "dead"
        return rec
