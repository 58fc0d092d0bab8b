"""The control plane's identity (its epoch) and the reset that identity makes visible.

Why: a Redis restarted empty, a failover to a fresh replica or a ``FLUSHALL`` looks, to a
reader, like a control plane with no kills and no engaged kill switches. Applied as is, it
silently disarms the fleet. Each initialisation therefore writes a new epoch id next to the
schema version; change events and snapshots carry it. An agent that sees the epoch change,
the schema vanish or the version go backwards keeps its last snapshot and reports itself
here ("holding"), until an operator restores a backup or accepts the new state - both write
a new epoch marked as an operator's decision, which the agents then adopt.
"""

from __future__ import annotations

import json
import time
import uuid
from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any

INIT = "init"  # stamped on a fresh Redis by the first session with a role above viewer
RESTORE = "restore"  # an operator restored a backup (`agentconsole restore FILE`)
ACCEPT = "accept"  # an operator accepted the state Redis holds now (`restore --accept`)
DECIDED = frozenset({RESTORE, ACCEPT})

EPOCH_CHANGED = "epoch changed"
SCHEMA_MISSING = "schema key missing"
VERSION_BACKWARDS = "version went backwards"
EPOCH_MISSING = "epoch missing"


@dataclass(frozen=True)
class Epoch:
    id: str
    at: float
    by: str
    how: str
    previous: str = ""

    @classmethod
    def new(cls, by: str, how: str, previous: str = "") -> Epoch:
        return cls(uuid.uuid4().hex[:16], round(time.time(), 3), by, how, previous)

    @property
    def decided(self) -> bool:
        """An operator chose this state over what the agents held: they adopt it."""
        return self.how in DECIDED

    def dump(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"), sort_keys=True)

    @classmethod
    def parse(cls, raw: Any) -> Epoch | None:
        """None for a missing or unreadable value (never raises: agents read it too)."""
        if raw is None:
            return None
        try:
            doc = json.loads(raw)
            return cls(
                id=str(doc["id"]),
                at=float(doc.get("at", 0)),
                by=str(doc.get("by", "")),
                how=str(doc.get("how", INIT)),
                previous=str(doc.get("previous", "")),
            )
        except (ValueError, KeyError, TypeError, AttributeError, UnicodeDecodeError):
            return None


@dataclass(frozen=True)
class Holding:
    """One agent process's report: it keeps the snapshot of ``epoch`` at ``version``."""

    process: str
    epoch: str
    version: int
    runs: int
    since: float
    reason: str
    at: float

    def dump(self) -> str:
        doc = asdict(self)
        doc.pop("process")
        return json.dumps(doc, separators=(",", ":"), sort_keys=True)

    @classmethod
    def parse(cls, process: str, raw: Any) -> Holding | None:
        try:
            doc = json.loads(raw)
            return cls(
                process=process,
                epoch=str(doc.get("epoch", "")),
                version=int(doc.get("version", 0)),
                runs=max(0, int(doc.get("runs", 0))),
                since=float(doc.get("since", 0)),
                reason=str(doc.get("reason", ""))[:80],
                at=float(doc.get("at", 0)),
            )
        except (ValueError, TypeError, AttributeError, UnicodeDecodeError):
            return None


@dataclass
class ResetStatus:
    """What the console's banner and `agentconsole status` say about a reset."""

    reason: str
    since: float
    holders: list[Holding]

    @property
    def agents(self) -> int:
        return sum(h.runs for h in self.holders)

    @property
    def held_versions(self) -> dict[str, int]:
        """Highest held version per epoch: which backup matches what the agents keep."""
        out: dict[str, int] = {}
        for h in self.holders:
            out[h.epoch] = max(out.get(h.epoch, 0), h.version)
        return out

    def banner(self) -> str:
        clock = time.strftime("%H:%M:%S", time.gmtime(self.since))
        return (
            f"control plane reset at {clock} ({self.reason}; {self.agents} agents holding "
            "their last snapshot)"
        )

    def advice(self) -> str:
        return (
            "restore a backup with `agentconsole restore FILE`, or accept the state Redis "
            "holds now with `agentconsole restore --accept`"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "reason": self.reason,
            "since": self.since,
            "agents_holding": self.agents,
            "processes_holding": len(self.holders),
            "held_versions": self.held_versions,
            "banner": self.banner(),
        }


def live_holders(raw: dict[Any, Any], now: float, max_age: float) -> list[Holding]:
    """The reports of processes still alive (a crashed one's report ages out)."""
    out = []
    for name, value in raw.items():
        process = name.decode("utf-8", "replace") if isinstance(name, bytes) else str(name)
        holding = Holding.parse(process, value)
        if holding is not None and now - holding.at <= max_age:
            out.append(holding)
    return out


def status_of(holders: list[Holding], schema_missing: bool) -> ResetStatus | None:
    """A reset is in progress while agents hold a snapshot of a control plane that is gone.

    The agents are the memory: a Redis with no schema and nobody holding is simply fresh
    (agents that never saw a schema have nothing to lose). A console or CLI that stamps a
    fresh Redis before the agents noticed the wipe does no harm: the agents then see the
    epoch change and hold all the same.
    """
    if not holders:
        return None
    reason = Counter(h.reason for h in holders).most_common(1)[0][0]
    if schema_missing:
        reason = SCHEMA_MISSING
    return ResetStatus(reason, min(h.since for h in holders), holders)
