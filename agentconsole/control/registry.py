"""The agent registry: what each running agent reports about itself.

Written by the SDK (register, heartbeat, finish, kill acknowledgement: all through
``write_many``, one pipeline per batch); read by the console and the CLI through sorted-set
indexes, so what an operator reads costs what it touches: the top N by tokens or cost is a
merge of each partition's top N, a tenant's agents come from that tenant's index, the header
counts are ZCOUNTs, and a kill's acknowledgements are a per-kill index. The registry is
spread over ``Keys.partitions`` partitions, each under a hash tag of its own, so a Redis
Cluster spreads it over its masters (docs/scaling.md).
"""

from __future__ import annotations

import asyncio
import builtins
import functools
import heapq
import time
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, cast

from redis.exceptions import NoScriptError

from agentconsole.control import codec, lua, pages

if TYPE_CHECKING:
    from redis.commands.core import AsyncScript
    from redis.typing import EncodableT, FieldT, KeyT

    from agentconsole.control.connection import RedisClient
    from agentconsole.control.keys import Keys, PartitionKeys
    from agentconsole.control.plane import ControlPlane

STATUSES = ("running", "paused", "draining", "killing", "killed", "finished", "failed", "dead")
# Written by agents; "killing" (a kill in force, not yet acknowledged) and "dead" (silent
# past dead_after) are derived by readers. "paused" and "draining" (control/holds.py) are
# runs still going: indexed as running, so a kill finds them.
STORED_STATUSES = ("running", "killed", "finished", "failed")
GOING = ("running", "paused", "draining")
SETTLED = ("killed", "finished", "failed")  # stored, and shown as stored
# Reported by agents under a hold and indexed as running; each also has an index of its
# own (candidates for the Agents view's status filter, checked against the row).
HELD = ("paused", "draining")
# The orders an index ranks (keys.PartitionKeys.by_order): the Agents view's sortable columns
ORDERS = ("heartbeat", "tokens", "cost", "steps", "started")
HEARTBEAT_FIELDS = (
    "heartbeat_at",
    "steps",
    "tokens_in",
    "tokens_out",
    "cost",
    "applied_version",
    "model",
)
# kill_ack.lua's status indexes: killed (entered), then the ones an acknowledged agent leaves
_ACK_STATUSES = ("killed", *(s for s in STORED_STATUSES if s != "killed"))
MIGRATE_CHUNK = 1000
ACK_CALL = 500  # agents per kill_ack or kill_rows call: 1.5-3 µs of Redis each, so ms a call


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


@dataclass
class _Written:
    """One agent's row as one write sent it (the hash fields, the index values)."""

    id: str
    partition: int
    fields: dict[str, str]
    tokens: float
    cost: float
    steps: int
    tenant: str
    coarse: float  # liveness score in the tenant and applied-version indexes
    version: int
    final: bool  # finished, failed or killed: no more heartbeats to compare with
    previous: _Written | None = None


@dataclass
class WriteMemo:
    """What one writer (an SDK process) last wrote for each of its agents.

    Why: most heartbeats change only the heartbeat time; re-sending every field and every
    index member cost one Redis core half its heartbeats (docs/performance.md).
    """

    rows: dict[str, _Written] = field(default_factory=dict)
    expired: dict[tuple[int, int], float] = field(default_factory=dict)

    def update(self, written: Iterable[_Written]) -> None:
        for w in written:
            if w.final:
                self.rows.pop(w.id, None)
                continue
            if w.previous is not None:  # a heartbeat's fields: merge into the whole row
                w.fields = {**w.previous.fields, **w.fields}
                w.previous = None
            self.rows[w.id] = w

    def expire_due(self, partition: int, version: int, now: float, ttl: float) -> bool:
        """Renew a version's applied set's TTL about four times per TTL, not every beat."""
        if now - self.expired.get((partition, version), -ttl) < ttl / 4:
            return False
        self.expired[partition, version] = now
        return True

    def retain(self, ids: Collection[str]) -> None:
        """Drop what is remembered of agents no longer written (a run that ended while a
        heartbeat of it was in flight)."""
        for agent_id in [i for i in self.rows if i not in ids]:
            del self.rows[agent_id]

    def clear(self) -> None:
        """Forget everything (Redis may have lost it): the next writes are whole."""
        self.rows.clear()
        self.expired.clear()


_ACK_MS = 1000.0  # acks:<kill_id> scores: integer milliseconds (kill_ack.lua writes them too)
_SECONDS_BELOW = 1e11  # an older SDK's score in seconds (1e11 ms is 1973, 1e11 s year 5138)


def ack_score(at: float) -> int:
    """An acknowledgement index score for a time in seconds. Index scores are integers:
    a small sorted set is a listpack that compares scores on every insert, and an integer
    compares without being parsed."""
    return int(at * _ACK_MS)


def ack_time(score: float) -> float:
    """The time in seconds an acknowledgement index score stands for (older SDKs wrote
    seconds: both read right, so a fleet upgrading one process at a time is reported)."""
    return score if score < _SECONDS_BELOW else score / _ACK_MS


@dataclass
class AckCursor:
    """Where a wait for one kill's acknowledgements is: the ids read, partition by partition."""

    kill_id: str
    seen: dict[int, set[str]] = field(default_factory=dict)

    def take(self, n: int, ids: Iterable[Any], fresh: builtins.list[str]) -> None:
        seen = self.seen.setdefault(n, set())
        for raw in ids:
            agent_id = codec.lenient_text(raw)
            if agent_id not in seen:
                seen.add(agent_id)
                fresh.append(agent_id)


CHECK_FIELDS = ("status", "tenant", "heartbeat_at")  # what a derived status is read from


async def stamped_partitions(redis: RedisClient, keys: Keys) -> int | None:
    """The partition count this Redis's registry was stamped with (None: not stamped)."""
    raw = await redis.get(keys.registry_partitions)
    text = codec.lenient_text(raw)
    return int(text) if text.isdigit() and int(text) > 0 else None


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

    @property
    def applied_ttl(self) -> int:
        """A version's applied set outlives its last writer by the time it could count."""
        return max(1, int(self.dead_after * 2 + self.plane.settings.registry.heartbeat_seconds))

    @property
    def coarse_step(self) -> float:
        """Resolution of the liveness scores in the tenant and applied-version indexes.

        A score that moves costs Redis about four times one that does not (a skiplist
        re-insert), and these two indexes only answer "live within dead_after": rounded up
        to this step, an agent's score there moves every few heartbeats, not every one,
        and errs on the side of live (by at most the step).
        """
        return min(5.0, self.dead_after / 6)

    def _coarse(self, t: float) -> float:
        step = self.coarse_step
        return -(-t // step) * step if step > 0 else t

    def _part(self, agent_id: str) -> PartitionKeys:
        return self.plane.keys.partition_for(agent_id)

    def _by_partition(self, ids: Iterable[str]) -> dict[int, list[str]]:
        groups: dict[int, list[str]] = defaultdict(list)
        for agent_id in ids:
            groups[self.plane.keys.partition_of(agent_id)].append(agent_id)
        return groups

    def _pipe(self) -> Any:
        # Never a transaction: a batch spans partitions (slots) and every write is absolute.
        return self.plane.redis.pipeline(transaction=False)

    async def check_layout(self) -> None:
        """Refuse a partition count other than the one this Redis's registry was written with.

        An admin stamps it on first contact; everyone else only compares. Two
        processes that disagree would write and read different keys for the same agent.
        """
        key = self.plane.keys.registry_partitions
        mine = self.plane.keys.partitions
        raw = await self.plane.redis.get(key)
        direct = self.plane.settings.control.writes == "direct"  # else the applier stamps
        if raw is None and self.plane.operator.role == "admin" and direct:
            await self.plane.redis.set(key, mine, nx=True)
            raw = await self.plane.redis.get(key)
        if raw is not None and codec.lenient_text(raw) != str(mine):
            from agentconsole.control.errors import SchemaMismatch

            raise SchemaMismatch(
                f"the agent registry in Redis has {codec.lenient_text(raw)[:20]} partitions, "
                f"this configuration says {mine}: set registry.partitions to match"
            )

    # --- written by agents -----------------------------------------------------------

    async def register(self, record: AgentRecord) -> None:
        await self.write_many([record])

    async def heartbeat(self, record: AgentRecord) -> None:
        """Counters are absolute values from the agent, so a retried heartbeat is harmless."""
        await self.write_many([record], HEARTBEAT_FIELDS)

    async def write_many(
        self,
        records: list[AgentRecord],
        fields: tuple[str, ...] | None = None,
        *,
        at: float | None = None,
        refresh_ttl: bool = True,
        memo: WriteMemo | None = None,
    ) -> None:
        """Records in one pipeline: the SDK's batched registration, heartbeat, acknowledgement.

        ``fields`` limits the hash write to those fields (a heartbeat sends only what
        changes); the indexes are always written from the whole record. The status indexes
        move only when ``status`` is written. Values are absolute, so a batch retried after
        a Redis outage is harmless. ``at`` is the heartbeat time written (default: now).
        ``refresh_ttl=False`` skips the per-agent EXPIRE: a heartbeat need not renew a TTL of
        minutes every two seconds (the SDK renews it once every quarter of the TTL).

        ``memo`` (the SDK's, one per process) remembers what this writer last wrote for
        each agent, so a heartbeat (``fields`` given, no TTL renewal) sends only what
        changed: the heartbeat index always, the hash fields (with ``heartbeat_at``) and
        the other index members only when a value moved, so an agent that is only alive
        costs one member of one ``ZADD`` (readers take ``heartbeat_at`` from that index).
        A write that renews the TTL, or a whole row, writes everything: what a lost write
        or a wiped Redis left out comes back within a quarter of the TTL at the latest.
        """
        if not records:
            return
        now = time.time() if at is None else at
        for record in records:
            record.started_at = record.started_at or now
            record.heartbeat_at = now
        refresh_ttl = refresh_ttl or fields is None
        skip = memo if memo is not None and fields is not None and not refresh_ttl else None
        written = await self._write(records, fields, refresh_ttl, skip)
        if memo is not None:
            memo.update(written)

    async def _write(
        self,
        records: list[AgentRecord],
        fields: tuple[str, ...] | None,
        refresh_ttl: bool,
        memo: WriteMemo | None,
    ) -> list[_Written]:
        """Write, skipping what ``memo`` says Redis holds already; returns what was written."""
        keys = self.plane.keys
        with_status = fields is None or "status" in fields
        groups: dict[int, list[AgentRecord]] = defaultdict(list)
        for record in records:
            groups[keys.partition_of(record.id)].append(record)
        written: list[_Written] = []
        async with self._pipe() as pipe:
            for n, group in groups.items():
                part = keys.partition(n)
                rows = [self._row(n, r, fields) for r in group]
                for record, row in zip(group, rows, strict=True):
                    before = memo.rows.get(record.id) if memo is not None else None
                    mapping = row.fields
                    if before is not None and before.partition == n:
                        mapping = {f: v for f, v in mapping.items() if before.fields.get(f) != v}
                        if mapping.keys() <= {"heartbeat_at"}:
                            mapping = {}  # only alive: the heartbeat index says so
                    else:
                        before = None
                    key = part.agent(record.id)
                    if mapping:
                        pipe.hset(key, mapping=mapping)
                    if refresh_ttl:
                        pipe.expire(key, self.ttl)
                    row.previous = before
                self._index(pipe, n, group, rows, with_status, memo)
                written += rows
            await pipe.execute()
        return written

    def _row(self, n: int, record: AgentRecord, fields: tuple[str, ...] | None) -> _Written:
        # vars() rather than fields(): asdict() deep-copies, too slow for 1,000 rows
        values = vars(record)
        if fields is not None:
            values = {f: values[f] for f in fields}
        return _Written(
            record.id,
            n,
            {f: str(v) for f, v in values.items()},
            float(record.tokens),
            record.cost,
            record.steps,
            record.tenant,
            self._coarse(record.heartbeat_at),
            record.applied_version,
            record.status not in GOING,
        )

    def _index(
        self,
        pipe: Any,
        n: int,
        group: list[AgentRecord],
        rows: list[_Written],
        with_status: bool,
        memo: WriteMemo | None,
    ) -> None:
        part = self.plane.keys.partition(n)
        pipe.zadd(part.by_heartbeat, {r.id: r.heartbeat_at for r in group})
        moved = [w for w in rows if w.previous is None or w.previous.tokens != w.tokens]
        if moved:
            pipe.zadd(part.by_tokens, {w.id: w.tokens for w in moved})
        moved = [w for w in rows if w.previous is None or w.previous.cost != w.cost]
        if moved:
            pipe.zadd(part.by_cost, {w.id: w.cost for w in moved})
        moved = [w for w in rows if w.previous is None or w.previous.steps != w.steps]
        if moved:
            pipe.zadd(part.by_steps, {w.id: w.steps for w in moved})
        # a start time never moves: written with the whole row (registration, TTL renewal)
        whole = [r for r, w in zip(group, rows, strict=True) if w.previous is None]
        if whole:
            pipe.zadd(part.by_started, {r.id: r.started_at for r in whole})
        by_tenant: dict[str, dict[str, float]] = defaultdict(dict)
        by_version: dict[int, dict[str, float]] = defaultdict(dict)
        for w in rows:
            old = w.previous
            if old is None or (old.tenant, old.coarse) != (w.tenant, w.coarse):
                by_tenant[w.tenant][w.id] = w.coarse
            if old is None or (old.version, old.coarse) != (w.version, w.coarse):
                by_version[w.version][w.id] = w.coarse
        for tenant, members in by_tenant.items():
            pipe.zadd(part.by_tenant(tenant), members)
        # Housekeeping's list of tenants (prune and reap visit them): renewed by whole
        # writes only (registration, the TTL renewal every quarter of the TTL, which is the
        # reap interval), so a live tenant's score is never older than the reap cutoff; a
        # heartbeat need not move it (no reader shows it).
        renewed: dict[str, float] = {}
        for w in rows:
            if w.previous is None:
                renewed[w.tenant] = max(renewed.get(w.tenant, w.coarse), w.coarse)
        if renewed:
            pipe.zadd(part.tenants, renewed)
        now = time.monotonic()
        for version, members in by_version.items():
            pipe.zadd(part.applied(version), members)
            if memo is None or memo.expire_due(n, version, now, self.applied_ttl):
                pipe.expire(part.applied(version), self.applied_ttl)
        if with_status:
            self._index_status(pipe, part, group)

    def _index_status(self, pipe: Any, part: PartitionKeys, group: list[AgentRecord]) -> None:
        """The status indexes and the kills' acknowledgement indexes: a few commands per
        partition, however many agents the group holds."""
        by_status: dict[str, dict[str, int]] = defaultdict(dict)
        by_kill: dict[str, dict[str, int]] = defaultdict(dict)
        for r in group:
            status = r.status if r.status in STORED_STATUSES else "running"
            # whole seconds: nothing reads a status index's scores by range (see ack_score)
            by_status[status][r.id] = int(r.kill_ack_at or r.heartbeat_at)
            if status == "killed" and r.kill_id:
                by_kill[r.kill_id][r.id] = ack_score(r.kill_ack_at or r.heartbeat_at)
        for kill_id, members in by_kill.items():  # one kill stops many: one ZADD for them
            pipe.zadd(part.acks(kill_id), members)
            pipe.expire(part.acks(kill_id), self.ttl)
        for status in STORED_STATUSES:
            if status in by_status:
                pipe.zadd(part.by_status(status), by_status[status])
            others = [i for s, m in by_status.items() if s != status for i in m]
            if others:
                pipe.zrem(part.by_status(status), *others)
        for status in HELD:
            held = {r.id: int(r.heartbeat_at) for r in group if r.status == status}
            if held:
                pipe.zadd(part.by_status(status), held)
            others = [r.id for r in group if r.status != status]
            if others:
                pipe.zrem(part.by_status(status), *others)

    async def finish(self, record: AgentRecord, status: str) -> None:
        record.status = status
        await self.write_many([record])

    async def acknowledge_kill(self, record: AgentRecord, kill: dict[str, Any]) -> None:
        """One agent's acknowledgement of ``kill``, and the kill in its row."""
        record.status = "killed"
        record.kill_ack_at = time.time()
        record.kill_id = str(kill.get("id", ""))
        record.killed_by = str(kill.get("requester", ""))
        record.kill_reason = str(kill.get("reason", ""))
        await self.acknowledge_many([record])
        await self.record_kills([record])

    async def acknowledge_many(self, records: list[AgentRecord]) -> None:
        """Kill acknowledgements of registered agents in one round trip: one ``kill_ack``
        script call per partition and kill, however many agents. It writes the kill's
        acknowledgement index (what an operator's wait reads) and the status indexes
        (what the Agents view filters and counts on), atomically per partition, and
        nothing else: this is what a killed run's exit waits for, so it is kept to what
        the operator reads. The rows' fields follow (:meth:`record_kills`), then the whole
        rows with the next heartbeat. Values are absolute: a retry is harmless.
        """
        await self._per_kill_calls(self._kill_ack, records, self._ack_call)

    async def record_kills(self, records: list[AgentRecord]) -> None:
        """The kill in the rows of acknowledged agents (status, when, which kill, by whom,
        why): one ``kill_rows`` call per partition and kill. A row already reaped is not
        recreated (the whole row, with its TTL, follows from the SDK)."""
        await self._per_kill_calls(self._kill_rows, records, self._rows_call)

    async def _per_kill_calls(
        self,
        script: AsyncScript,
        records: list[AgentRecord],
        call: Callable[[int, str, list[AgentRecord]], tuple[list[KeyT], list[EncodableT]]],
    ) -> None:
        """``script`` once per partition and kill (at most ACK_CALL agents a call), in one
        pipeline; on a cluster one call per partition, all at once."""
        if not records:
            return
        keys = self.plane.keys
        groups: dict[tuple[int, str], list[AgentRecord]] = defaultdict(list)
        for record in records:
            groups[keys.partition_of(record.id), record.kill_id].append(record)
        calls: list[tuple[list[KeyT], list[EncodableT]]] = []
        for (n, kill_id), whole in groups.items():
            # at most ACK_CALL agents a call: a script holds Redis for its whole run
            for start in range(0, len(whole), ACK_CALL):
                calls.append(call(n, kill_id, whole[start : start + ACK_CALL]))
        from redis.asyncio.cluster import RedisCluster

        if isinstance(self.plane.redis, RedisCluster):
            # a cluster pipeline refuses EVALSHA: one call per partition, all at once (each
            # goes to its partition's node; the script object reloads itself on NOSCRIPT)
            await asyncio.gather(*(script(keys=k, args=a) for k, a in calls))
            return
        for attempt in (1, 2):
            async with self._pipe() as pipe:
                for k, a in calls:
                    pipe.evalsha(script.sha, len(k), *k, *a)
                try:
                    await pipe.execute()
                    return
                except NoScriptError:  # a restarted or flushed Redis: load it, send again
                    if attempt == 2:
                        raise
            await self.load_scripts()

    def _ack_call(
        self, n: int, kill_id: str, group: list[AgentRecord]
    ) -> tuple[list[KeyT], list[EncodableT]]:
        """``kill_ack``'s keys and arguments for agents of partition ``n`` and one kill."""
        part = self.plane.keys.partition(n)
        head: list[KeyT] = [part.acks(kill_id), *(part.by_status(s) for s in _ACK_STATUSES)]
        # every agent in one argument (see kill_ack.lua): an id is a name, so no newline
        entries = "".join([f"{r.id}\n{ack_score(r.kill_ack_at)}\n" for r in group])
        if entries.count("\n") != 2 * len(group):
            raise ValueError("an agent id holds a newline: not a name (text.name)")
        return head, [self.ttl, entries]

    def _rows_call(
        self, n: int, kill_id: str, group: list[AgentRecord]
    ) -> tuple[list[KeyT], list[EncodableT]]:
        """``kill_rows``'s keys and arguments for agents of partition ``n`` and one kill."""
        part = self.plane.keys.partition(n)
        args: list[EncodableT] = [kill_id, group[0].killed_by, group[0].kill_reason]
        args += [f"{r.kill_ack_at:.6f}" for r in group]
        return [part.agent(r.id) for r in group], args

    async def load_scripts(self) -> None:
        """Load the kill's scripts ahead of the first kill (an agent process does at start)."""
        for script in (self._kill_ack, self._kill_rows):
            await self.plane.redis.script_load(script.script)

    @functools.cached_property
    def _kill_ack(self) -> AsyncScript:
        return lua.register(self.plane.redis, "kill_ack")

    @functools.cached_property
    def _kill_rows(self) -> AsyncScript:
        return lua.register(self.plane.redis, "kill_rows")

    # --- read by operators -----------------------------------------------------------

    async def count(self) -> int:
        """Agents in the registry (live, dead and finished until reaped)."""
        async with self._pipe() as pipe:
            for part in self.plane.keys.all_partitions():
                pipe.zcard(part.by_heartbeat)
            return sum(int(c) for c in await pipe.execute())

    async def status_counts(self) -> dict[str, int]:
        """Agents per stored status, and ``live`` (heartbeat within dead_after): ZCARDs."""
        since = time.time() - self.dead_after
        parts = self.plane.keys.all_partitions()
        async with self._pipe() as pipe:
            for part in parts:
                pipe.zcount(part.by_heartbeat, since, "+inf")
                for status in STORED_STATUSES:
                    pipe.zcard(part.by_status(status))
            raw = await pipe.execute()
        counts = dict.fromkeys(("live", *STORED_STATUSES), 0)
        width = 1 + len(STORED_STATUSES)
        for i in range(0, len(raw), width):
            for name, value in zip(("live", *STORED_STATUSES), raw[i : i + width], strict=True):
                counts[name] += int(value)
        return counts

    async def list(
        self,
        *,
        order: str = "heartbeat",
        limit: int = 1000,
        fields: tuple[str, ...] | None = None,
        tenant: str | None = None,
        status: str | None = None,
    ) -> list[AgentRecord]:
        """The ``limit`` agents first in ``order`` (freshest heartbeat, most tokens, ...).

        Unfiltered, each partition's index gives its top ``limit`` and the merge keeps the
        best ``limit``. A tenant or a status is the first page of that filter (``page``):
        it costs what it lists, not the fleet. ``fields`` reads only those fields (the rest
        keep their defaults).
        """
        if limit <= 0:
            return []
        if tenant is None and status is None:
            top = await self._top(order, limit)
            return await self.get_many([agent_id for agent_id, _ in top], fields)
        read = fields
        if fields is not None:  # what the derived status needs, too
            read = tuple(dict.fromkeys((*fields, *CHECK_FIELDS)))
        found = await self.page(order, limit, tenant=tenant, status=status)
        records = await self.get_many(found.ids, read)
        return [r for r in records if status is None or r.status == status]

    async def page(
        self,
        order: str,
        size: int,
        *,
        where: pages.Where = "first",
        cut: tuple[int, ...] = (),
        descending: bool = True,
        tenant: str | None = None,
        status: str | None = None,
    ) -> pages.Page:
        """One page of ``order`` (ids only), ``where`` relative to a previous page's cut.

        Unfiltered: one ZRANGE of ``size`` per partition, wherever the page is (a cut past
        the end, after the fleet shrank, gives the last page). A tenant or a status: see
        ``control/filtered_pages.py``; it costs the page (and the rows between matches), or
        the filter's candidates when they are few. See ``control/pages.py``.
        """
        if tenant is not None or status is not None:
            from agentconsole.control import filtered_pages  # here: it imports this module

            flt = await filtered_pages.filter_for(self, tenant, status)
            return await filtered_pages.page(self, order, size, where, cut, descending, flt)
        attr = self._order_attr(order)
        found = await self._order_page(attr, where, cut, size, descending)
        if not found.ids and found.position and where != "last":
            return await self.page(order, size, where="last", descending=descending)
        return found

    @staticmethod
    def _order_attr(order: str) -> str:
        if order not in ORDERS:
            raise ValueError(f"no registry index orders agents by {order!r}")
        return order

    async def _order_page(
        self, order: str, where: pages.Where, cut: tuple[int, ...], size: int, descending: bool
    ) -> pages.Page:
        """One page of an order's index, merged over the partitions (no fallback)."""
        parts = self.plane.keys.all_partitions()
        asked = pages.first_read(size, len(parts))
        found = await self._page_read(order, parts, where, cut, size, asked, descending)
        if not found.complete:  # a partition held more of the page than its share
            found = await self._page_read(order, parts, where, cut, size, size, descending)
        return found

    async def _page_read(
        self,
        order: str,
        parts: builtins.list[PartitionKeys],
        where: pages.Where,
        cut: tuple[int, ...],
        size: int,
        asked: int,
        descending: bool,
    ) -> pages.Page:
        wanted = pages.ranges(where, cut, asked, len(parts))
        async with self._pipe() as pipe:
            for part, span in zip(parts, wanted, strict=True):
                key = part.by_order(order)
                pipe.zcard(key)
                if span is not None:
                    pipe.zrange(key, span[0], span[1], desc=descending, withscores=True)
            raw = iter(await pipe.execute())
        sizes, slices = [], []
        for span in wanted:
            sizes.append(int(next(raw)))
            rows = next(raw) if span is not None else []
            slices.append([(codec.lenient_text(i), float(s)) for i, s in rows])
        return pages.merge(where, cut, size, slices, sizes, descending, asked)

    async def _top(self, order: str, limit: int) -> builtins.list[tuple[str, float]]:
        if limit <= 0:
            return []
        order = self._order_attr(order)
        async with self._pipe() as pipe:
            for part in self.plane.keys.all_partitions():
                pipe.zrevrange(part.by_order(order), 0, limit - 1, withscores=True)
            rows = await pipe.execute()
        merged = heapq.merge(*rows, key=lambda pair: pair[1], reverse=True)
        return [(codec.lenient_text(i), s) for i, s in list(merged)[:limit]]

    async def live_running(self, tenant: str | None = None) -> builtins.list[str]:
        """Agents that say they are running and heartbeat within dead_after.

        One ZINTER per partition of the running index with the heartbeat (or the tenant's)
        index, scored by the latter alone, so that the silent ones are dropped here: the
        cost is the smaller of the two sets (a tenant costs its own size), never the dead
        rows the heartbeat index holds until they are reaped.
        """
        since = time.time() - self.dead_after
        async with self._pipe() as pipe:
            for part in self.plane.keys.all_partitions():
                scored = part.by_heartbeat if tenant is None else part.by_tenant(tenant)
                # raw: redis-py's own reply conversion re-encodes each RESP3 score to parse it
                pipe.execute_command(
                    "ZINTER", 2, part.by_status("running"), scored, "WEIGHTS", 0, 1, "WITHSCORES"
                )
            rows = await pipe.execute()
        text = codec.lenient_text
        return [text(i) for row in rows for i, beat in codec.score_pairs(row) if beat >= since]

    async def acknowledged(self, kill_id: str, after: float = 0.0) -> dict[str, float]:
        """Agents that acknowledged ``kill_id`` (at or after ``after``) -> when."""
        async with self._pipe() as pipe:
            for part in self.plane.keys.all_partitions():
                # from ``after`` in seconds: every score in milliseconds is above it
                pipe.zrangebyscore(part.acks(kill_id), after, "+inf", withscores=True)
            rows = await pipe.execute()
        found = {codec.lenient_text(i): ack_time(float(s)) for row in rows for i, s in row}
        return {agent_id: at for agent_id, at in found.items() if at >= after}

    async def acknowledged_ids(self, kill_id: str) -> builtins.list[str]:
        """The agents that acknowledged ``kill_id``: ids only (a kill's listing), so no
        score is sent or parsed."""
        async with self._pipe() as pipe:
            for part in self.plane.keys.all_partitions():
                pipe.zrange(part.acks(kill_id), 0, -1)
            rows = await pipe.execute()
        return [codec.lenient_text(i) for row in rows for i in row]

    async def new_acknowledgements(self, cursor: AckCursor) -> builtins.list[str]:
        """The agents that acknowledged ``cursor.kill_id`` since it last read.

        Per partition, the entries from the rank after the ones read, plus a ZCARD. The
        entries are ordered by the agents' acknowledgement times, not by arrival (another
        process, or one back from a Redis outage, lands later with an earlier time and
        shifts the ranks), so a partition whose count says one was missed is read again
        whole. Ids only: the wait times each acknowledgement by the poll that read it, so
        no score is sent or parsed. Waiting for 100,000 agents costs a few commands per
        partition per poll, not a read of every agent.
        """
        parts = self.plane.keys.all_partitions()
        async with self._pipe() as pipe:
            for n, part in enumerate(parts):
                pipe.zcard(part.acks(cursor.kill_id))
                pipe.zrange(part.acks(cursor.kill_id), len(cursor.seen.get(n, ())), -1)
            raw = await pipe.execute()
        fresh: builtins.list[str] = []
        behind: builtins.list[int] = []
        for n in range(len(parts)):
            count, ids = int(raw[2 * n]), raw[2 * n + 1]
            cursor.take(n, ids, fresh)
            if count > len(cursor.seen.get(n, ())):
                behind.append(n)
        if behind:
            async with self._pipe() as pipe:
                for n in behind:
                    pipe.zrange(parts[n].acks(cursor.kill_id), 0, -1)
                for n, ids in zip(behind, await pipe.execute(), strict=True):
                    cursor.take(n, ids, fresh)
        return fresh

    async def settled(self, ids: builtins.list[str]) -> set[str]:
        """Of ``ids``, the ones that finished, failed or left the registry (not waited for)."""
        groups = self._by_partition(ids)
        order: list[list[str]] = []
        async with self._pipe() as pipe:
            for n, members in groups.items():
                part = self.plane.keys.partition(n)
                pipe.zmscore(part.by_heartbeat, members)
                pipe.zmscore(part.by_status("finished"), members)
                pipe.zmscore(part.by_status("failed"), members)
                order.append(members)
            raw = await pipe.execute()
        done: set[str] = set()
        for i, members in enumerate(order):
            present, finished, failed = raw[3 * i : 3 * i + 3]
            for agent_id, p, f, x in zip(members, present, finished, failed, strict=True):
                if p is None or f is not None or x is not None:
                    done.add(agent_id)
        return done

    async def get_many(
        self, ids: builtins.list[str], fields: tuple[str, ...] | None = None
    ) -> builtins.list[AgentRecord]:
        """The agents' rows. ``heartbeat_at`` is the later of the row's and the heartbeat
        index's: a heartbeat that changed nothing else writes only the index."""
        if not ids:
            return []
        kills = await self._kill_targets()
        beats = self._by_partition(ids) if fields is None or "heartbeat_at" in fields else {}
        async with self._pipe() as pipe:
            for agent_id in ids:
                key = self._part(agent_id).agent(agent_id)
                pipe.hmget(key, fields) if fields else pipe.hgetall(key)
            for n, members in beats.items():
                pipe.zmscore(self.plane.keys.partition(n).by_heartbeat, members)
            raw_all = await pipe.execute()
        rows, scores = raw_all[: len(ids)], raw_all[len(ids) :]
        latest: dict[str, float] = {}
        for members, found in zip(beats.values(), scores, strict=True):
            latest.update((i, float(at)) for i, at in zip(members, found, strict=True) if at)
        now = time.time()
        records = []
        for agent_id, raw in zip(ids, rows, strict=True):
            if fields:
                raw = {f: v for f, v in zip(fields, raw, strict=True) if v is not None}
            if raw:
                rec = AgentRecord.from_hash(agent_id, raw)
                rec.heartbeat_at = max(rec.heartbeat_at, latest.get(agent_id, 0.0))
                records.append(self._derive(rec, kills, now))
        return records

    async def get(self, agent_id: str) -> AgentRecord | None:
        found = await self.get_many([agent_id])
        return found[0] if found else None

    async def exists(self, agent_id: str) -> bool:
        return bool(await self.plane.redis.exists(self._part(agent_id).agent(agent_id)))

    async def applied_counts(self) -> tuple[int, int, int]:
        """(live agents at the current control-plane version, live agents, current version).

        Only live agents count: a dead agent that once applied the latest version must not
        make the fleet look up to date. Two ZCOUNTs per partition, whatever the fleet size.
        """
        k = self.plane.keys
        since = time.time() - self.dead_after
        version = int(await self.plane.redis.get(k.version) or 0)
        async with self._pipe() as pipe:
            for part in k.all_partitions():
                pipe.zcount(part.applied(version), since, "+inf")
                pipe.zcount(part.by_heartbeat, since, "+inf")
            raw = await pipe.execute()
        return sum(int(c) for c in raw[0::2]), sum(int(c) for c in raw[1::2]), version

    async def reap(self, *, reason: str = "") -> int:
        """Forget agents whose last heartbeat is older than the reap interval.

        An operator action (role ``agent.reap``). The audit entry naming the forgotten agents
        and the removal of their kill records are one MULTI/EXEC on the control state; the
        partitions are cleaned afterwards (retrying a reap that failed half-way finishes it).
        """
        self.plane.operator.require("agent.reap")
        cutoff = time.time() - self.plane.settings.registry.reap_after_seconds
        stale = await self._stale(cutoff, None)
        ids = [i for members in stale.values() for i in members]
        if not ids:
            return 0
        target = f"{len(ids)} agent{'s' * (len(ids) != 1)}"
        before = {"agents": ids[:100], "count": len(ids)}
        kills = [f"agent:{agent_id}" for agent_id in ids]
        await self._audit("agent.reap", target, before, reason, kills)
        await self._forget(stale, cutoff, delete=True)
        return len(ids)

    async def _audit(
        self,
        action: str,
        target: str,
        before: dict[str, Any],
        reason: str,
        forget_kills: builtins.list[str] | None = None,
    ) -> None:
        """One audit entry (with the kill records to drop, in the same MULTI/EXEC)."""
        from agentconsole.control.plane import AUDIT_MAXLEN

        k, operator = self.plane.keys, self.plane.operator
        entry: dict[FieldT, EncodableT] = {
            "ts": f"{time.time():.3f}",
            "actor": operator.name,
            "role": operator.role,
            "action": action,
            "entity": "agent",
            "target": target,
            "before": codec.dump(before),
            "after": "",
            "reason": reason,
            "cp_version": int(await self.plane.redis.get(k.version) or 0),
        }
        async with self.plane.redis.pipeline(transaction=True) as pipe:
            pipe.xadd(k.audit, entry, maxlen=AUDIT_MAXLEN, approximate=True)
            if forget_kills:
                pipe.hdel(k.kills, *forget_kills)
            await pipe.execute()

    async def prune(self, batch: int = 500, lease: float = 0.0) -> int:
        """Drop index entries of agents silent past the reap interval (their hashes expired).

        Housekeeping, not an operator action: it changes nothing an operator set, so it
        needs no role or audit entry, and agents run it (their ACL user may). ``reap`` is the
        audited operator action that also removes the kill records of reaped agents.
        With ``lease`` seconds, a partition is pruned only by the process that takes its
        prune lease (``SET NX EX``): a thousand agent processes pruning every minute do the
        work once, not a thousand times.
        """
        cutoff = time.time() - self.plane.settings.registry.reap_after_seconds
        parts = list(range(self.plane.keys.partitions))
        if lease > 0:
            async with self._pipe() as pipe:
                for n in parts:
                    lease_key = self.plane.keys.partition(n).prune_lease
                    pipe.set(lease_key, self.plane.operator.name, nx=True, ex=max(1, int(lease)))
                won = await pipe.execute()
            parts = [n for n, ok in zip(parts, won, strict=True) if ok]
        stale = await self._stale(cutoff, batch, parts)
        await self._forget(stale, cutoff, delete=False)
        return sum(len(m) for m in stale.values())

    async def _stale(
        self, cutoff: float, batch: int | None, only: builtins.list[int] | None = None
    ) -> dict[int, builtins.list[str]]:
        numbers = list(range(self.plane.keys.partitions)) if only is None else only
        parts = [self.plane.keys.partition(n) for n in numbers]
        async with self._pipe() as pipe:
            for part in parts:
                if batch is None:
                    pipe.zrangebyscore(part.by_heartbeat, "-inf", cutoff)
                else:
                    pipe.zrangebyscore(part.by_heartbeat, "-inf", cutoff, start=0, num=batch)
            rows = await pipe.execute()
        return {
            n: [codec.lenient_text(i) for i in row]
            for n, row in zip(numbers, rows, strict=True)
            if row
        }

    async def _forget(
        self, stale: dict[int, builtins.list[str]], cutoff: float, delete: bool
    ) -> None:
        """Remove stale ids from every index of their partition (and their hashes)."""
        if not stale:
            return
        k = self.plane.keys
        async with self._pipe() as pipe:
            for n in stale:
                pipe.zrange(k.partition(n).tenants, 0, -1)
            tenant_rows = await pipe.execute()
        version = int(await self.plane.redis.get(k.version) or 0)
        async with self._pipe() as pipe:
            for (n, ids), tenants in zip(stale.items(), tenant_rows, strict=True):
                part = k.partition(n)
                if delete:
                    pipe.delete(*(part.agent(i) for i in ids))
                for order in ORDERS:
                    pipe.zrem(part.by_order(order), *ids)
                for status in (*STORED_STATUSES, *HELD):
                    pipe.zrem(part.by_status(status), *ids)
                pipe.zremrangebyscore(part.applied(version), "-inf", cutoff)
                for tenant in map(codec.lenient_text, tenants):
                    pipe.zremrangebyscore(part.by_tenant(tenant), "-inf", cutoff)
                pipe.zremrangebyscore(part.tenants, "-inf", cutoff)
            await pipe.execute()

    async def migrate_legacy(self, *, reason: str = "") -> int:
        """Move a registry written by the previous (single-slot, v1) layout into partitions.

        An admin action (``agentconsole agents upgrade``), audited. Reads the old heartbeat
        index in chunks, copies each agent's hash with its original heartbeat, then deletes
        the old keys. Idempotent: run twice, the second moves 0 (and writes no entry).
        """
        self.plane.operator.require("registry.upgrade")
        k = self.plane.keys
        legacy_heartbeat = k.legacy_indexes[0]
        total = int(await self.plane.redis.zcard(legacy_heartbeat))
        if total:
            await self._audit("registry.upgrade", f"{total} agents", {"count": total}, reason)
        moved = 0
        while True:
            # without scores: members only (redis-py's type does not follow withscores)
            chunk = await self.plane.redis.zrange(legacy_heartbeat, 0, MIGRATE_CHUNK - 1)
            ids = [codec.lenient_text(i) for i in cast("builtins.list[bytes | str]", chunk)]
            if not ids:
                break
            async with self._pipe() as pipe:
                for agent_id in ids:
                    pipe.hgetall(k.legacy_agent(agent_id))
                rows = await pipe.execute()
            records = [
                AgentRecord.from_hash(agent_id, raw)
                for agent_id, raw in zip(ids, rows, strict=True)
                if raw
            ]
            await self._write(records, None, True, None)
            async with self._pipe() as pipe:
                pipe.zrem(legacy_heartbeat, *ids)
                for agent_id in ids:
                    pipe.delete(k.legacy_agent(agent_id))
                await pipe.execute()
            moved += len(records)
        await self.plane.redis.delete(*k.legacy_indexes)
        return moved

    async def has_legacy(self) -> bool:
        return bool(await self.plane.redis.exists(self.plane.keys.legacy_indexes[0]))

    async def _kill_targets(self) -> set[str]:
        return {codec.lenient_text(t) for t in await self.plane.redis.hkeys(self.plane.keys.kills)}

    def _derive(self, rec: AgentRecord, kills: set[str], now: float) -> AgentRecord:
        """Status as an operator needs it: 'killing' until acknowledged, 'dead' when silent."""
        if rec.status in GOING:
            if {f"agent:{rec.id}", f"tenant:{rec.tenant}", "all"} & kills:
                rec.status = "killing"
            elif now - rec.heartbeat_at > self.dead_after:
                rec.status = "dead"
        return rec
