"""Drains and pauses: the steps of the intervention ladder before a kill.

- **drain**: no new runs for the target; the runs already going finish normally.
- **pause**: the target's runs hold at their next guarded call (or ``await run.checkpoint()``)
  until the pause is lifted; a kill still stops a paused run.

Both are control state beside kills, with the same targets (``agent:<id>``, ``tenant:<t>``,
``all``, built by :func:`kills.target_for`), stored durably in the ``holds`` hash under the
field ``<kind>:<target>`` (``drain:tenant:acme``, ``pause:all``) and set and lifted through
:meth:`ControlPlane.apply`: one audit entry each, a change event carrying the document,
exactly once. Holding a target twice returns the first hold and changes nothing. Agents
report ``paused`` / ``draining`` in the registry, so the console shows what they obey.
"""

from __future__ import annotations

import asyncio
import builtins
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from agentconsole.control import codec
from agentconsole.control.errors import CorruptValue, InvalidValue
from agentconsole.control.kills import ALL, BRIEF_FIELDS, issue, lift_stored, target_for

if TYPE_CHECKING:
    from agentconsole.control.plane import ControlPlane

DRAIN, PAUSE = "drain", "pause"
KINDS = (DRAIN, PAUSE)
# What a run of a held target reports in the registry (pause wins over drain).
STATUS = {PAUSE: "paused", DRAIN: "draining"}
SETTLED = ("finished", "failed", "killed")  # a run that ended obeys every hold


def field_for(kind: str, target: str) -> str:
    """The ``holds`` field of one hold: ``drain:tenant:acme``."""
    if kind not in KINDS:
        raise InvalidValue(f"a hold is one of {', '.join(KINDS)}, got {kind!r}")
    return f"{kind}:{target}"


def split(field_name: str) -> tuple[str, str]:
    """``drain:tenant:acme`` -> (``drain``, ``tenant:acme``)."""
    kind, _, target = field_name.partition(":")
    return kind, target


def hold_for(
    holds: dict[str, dict[str, Any]], kind: str, agent_id: str, tenant: str
) -> dict[str, Any] | None:
    """The hold of ``kind`` in force for this agent (its own, then its tenant's, then all)."""
    if not holds:
        return None
    return (
        holds.get(f"{kind}:agent:{agent_id}")
        or (holds.get(f"{kind}:tenant:{tenant}") if tenant else None)
        or holds.get(f"{kind}:{ALL}")
    )


def describe(target: str) -> str:
    """``tenant:acme`` -> ``tenant acme``; ``all`` -> ``every agent``."""
    if target == ALL:
        return "every agent"
    scope, _, name = target.partition(":")
    return f"{scope} {name}"


@dataclass
class HoldOutcome:
    kind: str
    target: str
    hold: dict[str, Any]
    created: bool
    agents: list[str] = field(default_factory=list)  # running agents of the target now


class Holds:
    def __init__(self, plane: ControlPlane) -> None:
        self.plane = plane

    async def list(self) -> tuple[dict[str, dict[str, Any]], list[str]]:
        """Every hold in force by field (``pause:tenant:acme``), and unreadable entries."""
        raw = await self.plane.redis.hgetall(self.plane.keys.holds)
        holds, problems = {}, []
        for name, value in raw.items():
            label = codec.lenient_text(name)
            try:
                holds[label] = codec.document(value, f"hold {label!r}") or {}
            except CorruptValue as exc:
                # still holds its target (fail closed): listed so it can be lifted
                holds[label] = {codec.UNREADABLE: str(exc)}
                kind, target = split(label)
                problems.append(
                    f"{self.plane.keys.holds} field {label!r}: {codec.problem(value)}; "
                    f"agents obey it; lift it: agentconsole do {kind} lift "
                    f"{target.replace(':', ' ', 1)}"
                )
        return holds, problems

    async def hold(
        self,
        kind: str,
        *,
        agent: str | None = None,
        tenant: str | None = None,
        everything: bool = False,
        reason: str = "",
    ) -> HoldOutcome:
        """Drain or pause a target; a second request returns the first hold unchanged."""
        target = target_for(agent=agent, tenant=tenant, everything=everything)
        name = field_for(kind, target)  # refuses a kind that is not a drain or a pause
        scope = target.split(":", 1)[0]
        action = f"{kind}.{scope}"
        doc, created = await issue(
            self.plane,
            self.plane.keys.holds,
            name,
            "hold",
            action,
            reason,
            target=target,
            agent=agent,
            kind=kind,
        )
        # written and published first: the registry read never delays the hold itself
        return HoldOutcome(kind, target, doc, created, await self.running(target))

    async def lift(self, kind: str, target: str, *, reason: str = "") -> dict[str, Any]:
        """Lift a drain (new runs may start) or a pause (held runs continue)."""
        name = field_for(kind, target)
        self.plane.operator.require(f"{kind}.lift")
        return await lift_stored(
            self.plane,
            self.plane.keys.holds,
            name,
            "hold",
            f"{kind}.lift",
            reason,
            f"no {kind} in force for {describe(target)}",
        )

    async def running(self, target: str) -> builtins.list[str]:
        """Agents of ``target`` that are going now (running, paused or draining): read from
        the registry's indexes like a kill's, so a tenant costs its own agents."""
        return await self.plane.kills.affected_ids(target)

    async def wait_for_status(
        self,
        agent_ids: builtins.list[str],
        statuses: tuple[str, ...],
        timeout: float,
        since: float | None = None,
    ) -> tuple[builtins.list[str], builtins.list[str], float]:
        """(agents that reported one of ``statuses`` or settled, the rest, seconds from
        ``since`` (``time.monotonic()``) to the last report seen) within ``timeout``.

        A pause's proof: each agent writes ``paused`` as it applies the hold.
        """
        start = time.monotonic() if since is None else since
        last = 0.0
        deadline = time.monotonic() + timeout
        pending = builtins.list(agent_ids)
        done: builtins.list[str] = []
        while pending:
            records = await self.plane.agents.get_many(pending, BRIEF_FIELDS)
            by_id = {r.id: r.status for r in records}
            still = []
            for agent_id in pending:
                status = by_id.get(agent_id)
                if status is None or status in (*statuses, *SETTLED):
                    done.append(agent_id)
                    last = time.monotonic() - start
                else:
                    still.append(agent_id)
            pending = still
            if not pending or time.monotonic() >= deadline:
                break
            await asyncio.sleep(0.02 if len(pending) < 1000 else 0.1)
        return done, pending, last
