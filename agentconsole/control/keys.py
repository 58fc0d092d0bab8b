"""The one place that builds Redis key and channel names.

Every control-plane key carries the same hash tag, ``{<prefix>}``, so that every operation,
including the multi-key Lua scripts, works on Redis Cluster: the control state that one
change must update atomically (flags, breakers, kills, budgets, version, audit) lives in one
slot. It is small. The agent registry is the part that grows with the fleet, so it is split
into ``partitions``, each with a hash tag of its own (``{<prefix>:agents:<n>}``): a Redis
Cluster spreads them over its masters, and every index an operator reads (freshest, top by
tokens or cost, per tenant, per status, per applied version, per kill's acknowledgements)
exists once per partition. See docs/scaling.md.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

SCHEMA_VERSION = 1
DEFAULT_PARTITIONS = 16


@dataclass(frozen=True)
class PartitionKeys:
    """The registry keys of one partition: an agent's hash and the indexes of its agents.

    Every key here carries the partition's hash tag, so one partition's writes and reads go
    to one node (one pipeline per node on a cluster).
    """

    tag: str

    def _k(self, *parts: str) -> str:
        return ":".join((self.tag, *parts))

    def agent(self, agent_id: str) -> str:
        return self._k("agent", agent_id)

    @property
    def by_heartbeat(self) -> str:
        """Agent id -> last heartbeat (unix seconds)."""
        return self._k("heartbeat")

    @property
    def by_tokens(self) -> str:
        return self._k("tokens")

    @property
    def by_cost(self) -> str:
        return self._k("cost")

    @property
    def by_steps(self) -> str:
        return self._k("steps")

    @property
    def by_started(self) -> str:
        """Agent id -> when it registered (the Agents view's AGE column sorts by it)."""
        return self._k("started")

    def by_order(self, order: str) -> str:
        """The index that ranks ``order`` (``registry.ORDERS``)."""
        return self._k(order)

    def by_tenant(self, tenant: str) -> str:
        """One tenant's agent ids -> last heartbeat: a tenant kill reads only these."""
        return self._k("tenant", tenant)

    @property
    def tenants(self) -> str:
        """Tenant -> last heartbeat of any of its agents (for housekeeping)."""
        return self._k("tenants")

    def by_status(self, status: str) -> str:
        """Agent ids in a stored status (running, killed, finished, failed) -> when set."""
        return self._k("status", status)

    def applied(self, version: int | str) -> str:
        """Agents whose last heartbeat reported ``version`` -> that heartbeat.

        Counting "N agents at vX" is one ZCOUNT of live scores here; a version's set
        expires once nobody reports it any more.
        """
        return self._k("applied", str(version))

    @property
    def prune_lease(self) -> str:
        """Which process prunes this partition this minute (``SET NX EX``)."""
        return self._k("prune_lease")

    def acks(self, kill_id: str) -> str:
        """Agents that acknowledged one kill -> when: the kill's progress is a ZCARD."""
        return self._k("acks", kill_id)


@dataclass(frozen=True)
class Keys:
    prefix: str = "ac"
    partitions: int = DEFAULT_PARTITIONS

    @property
    def tag(self) -> str:
        return "{" + self.prefix + "}"

    def _k(self, *parts: str) -> str:
        return ":".join((self.tag, *parts))

    # --- metadata ---
    @property
    def schema(self) -> str:
        return self._k("schema")

    @property
    def epoch(self) -> str:
        """The control plane's identity: a new id whenever it is (re)initialised or restored."""
        return self._k("epoch")

    @property
    def approvals(self) -> str:
        """Four-eyes requests: who asked for what, until when, and who decided."""
        return self._k("approvals")

    def change(self, change_id: str) -> str:
        """The outcome of one applied change, by its client-generated id (expires)."""
        return self._k("change", change_id)

    def requests(self, user: str) -> str:
        """One operator's change requests to the applier (control/applier.py): only that
        Redis user may append here, so the stream's name is the actor."""
        return self._k("requests", user)

    def change_result(self, change_id: str) -> str:
        """The applier's answer to one request (a stream of one entry, expires): the
        requester waits on it with a blocking read, which needs no write permission."""
        return self._k("result", change_id)

    @property
    def appliers(self) -> str:
        """Running appliers: consumer name -> when its loop last went round (unix seconds)."""
        return self._k("appliers")

    @property
    def reset_holders(self) -> str:
        """Agent processes holding their last snapshot through a control-plane reset."""
        return self._k("reset", "holders")

    @property
    def version(self) -> str:
        """Global control-plane version, incremented by every change."""
        return self._k("version")

    # --- operator-controlled state: hashes of JSON documents ---
    @property
    def flags(self) -> str:
        return self._k("flags")

    @property
    def breakers(self) -> str:
        return self._k("breakers")

    @property
    def kills(self) -> str:
        return self._k("kills")

    @property
    def holds(self) -> str:
        """Drains and pauses in force, by ``<kind>:<target>`` (control/holds.py)."""
        return self._k("holds")

    @property
    def budgets(self) -> str:
        return self._k("budgets")

    @property
    def silences(self) -> str:
        """Record of Alertmanager silences created from the console (for the audit trail)."""
        return self._k("silences")

    # --- state reported by agents ---
    @property
    def breaker_state(self) -> str:
        return self._k("breaker_state")

    def breaker_window(self, dependency: str) -> str:
        return self._k("breaker_window", dependency)

    # --- the agent registry, partitioned ---
    @property
    def registry_partitions(self) -> str:
        """How many partitions the registry in this Redis has (stamped by the first operator)."""
        return self._k("registry", "partitions")

    def partition_of(self, agent_id: str) -> int:
        """Stable across processes and releases: CRC-32 of the id."""
        return zlib.crc32(agent_id.encode("utf-8", "surrogateescape")) % self.partitions

    def partition(self, n: int | str) -> PartitionKeys:
        return PartitionKeys("{" + f"{self.prefix}:agents:{n}" + "}")

    def all_partitions(self) -> list[PartitionKeys]:
        return [self.partition(n) for n in range(self.partitions)]

    def partition_for(self, agent_id: str) -> PartitionKeys:
        return self.partition(self.partition_of(agent_id))

    def agent(self, agent_id: str) -> str:
        return self.partition_for(agent_id).agent(agent_id)

    @property
    def registry_pattern(self) -> str:
        """Every key of every partition (for ACL rules)."""
        return "{" + f"{self.prefix}:agents:*" + "}:*"

    # --- the registry as schema v1 wrote it (read once by ``agents upgrade``) ---
    def legacy_agent(self, agent_id: str) -> str:
        return self._k("agent", agent_id)

    @property
    def legacy_indexes(self) -> tuple[str, ...]:
        """heartbeat first: it lists every agent the old layout knew."""
        return tuple(self._k("agents", i) for i in ("heartbeat", "tokens", "cost", "applied"))

    def usage(self, day: str) -> str:
        return self._k("usage", day)

    def reservations(self, day: str) -> str:
        return self._k("reservations", day)

    # --- guarded rollouts (control/rollouts.py, control/controller.py) ---
    @property
    def rollout_lease(self) -> str:
        """Which `agentconsole rollouts run` process may act; a renewed, expiring lease."""
        return self._k("rollouts", "lease")

    @property
    def rollout_status(self) -> str:
        """The controller's latest evaluation per plan (guards, counts, verdict): not audited,
        rewritten every interval, read by the console."""
        return self._k("rollouts", "status")

    # --- history and notifications ---
    @property
    def audit(self) -> str:
        return self._k("audit")

    @property
    def events(self) -> str:
        """Pub/sub channel for change events."""
        return self._k("events")

    def incident(self, incident_id: str) -> str:
        return self._k("incident", incident_id)

    @property
    def incidents(self) -> str:
        return self._k("incidents")
