"""The one place that builds Redis key and channel names.

Every control-plane key carries the same hash tag, ``{<prefix>}``, so that every operation,
including the multi-key Lua scripts, works on Redis Cluster: the whole control plane lives
in one slot. It is small (flags, breakers, kills, budgets, an index of agents); the one busy
part, agent heartbeats, is a few commands per agent every couple of seconds, well within a
single shard's budget (see docs/performance.md).
"""

from __future__ import annotations

from dataclasses import dataclass

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class Keys:
    prefix: str = "ac"

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

    def agent(self, agent_id: str) -> str:
        return self._k("agent", agent_id)

    @property
    def agents_by_heartbeat(self) -> str:
        return self._k("agents", "heartbeat")

    @property
    def agents_by_tokens(self) -> str:
        return self._k("agents", "tokens")

    @property
    def agents_by_cost(self) -> str:
        return self._k("agents", "cost")

    @property
    def agents_applied(self) -> str:
        """Which control-plane version each agent process has applied."""
        return self._k("agents", "applied")

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
