"""Shared progress through a runbook, per incident (one alert instance).

Stored as one JSON document per incident in the ``incidents`` hash and changed only through
:meth:`ControlPlane.apply`: every step transition and every recorded action is audited and
published, and compare-and-set means two operators working the same incident never
overwrite each other. A change is re-evaluated on fresh state after a lost race, so its
precondition (e.g. "step 3 is still open") is checked against what is really there.
"""

from __future__ import annotations

import builtins
import contextlib
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from agentconsole.control import codec
from agentconsole.control.errors import (
    AlreadyExists,
    Conflict,
    CorruptValue,
    InvalidValue,
    NotFound,
)

if TYPE_CHECKING:
    from agentconsole.control.plane import ControlPlane

STATUSES = ("done", "skipped")
MAX_NOTE = 2000
MAX_ACTIONS = 200
RETRIES = 5


@dataclass
class StepMark:
    status: str
    by: str
    at: float
    note: str = ""


@dataclass
class ActionRecord:
    step: int
    text: str
    by: str
    at: float
    ok: bool
    message: str
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None


@dataclass
class Incident:
    id: str
    alert: str
    runbook: str
    labels: dict[str, str] = field(default_factory=dict)
    summary: str = ""
    runbook_title: str = ""
    runbook_version: str = ""
    step_titles: list[str] = field(default_factory=list)
    started_at: float = 0.0
    started_by: str = ""
    ended_at: float | None = None
    ended_by: str = ""
    steps: dict[str, StepMark] = field(default_factory=dict)  # "3" -> mark (JSON keys)
    actions: list[ActionRecord] = field(default_factory=list)
    version: int = 0

    @property
    def resolved(self) -> bool:
        return self.ended_at is not None

    def mark(self, step: int) -> StepMark | None:
        return self.steps.get(str(step))

    @property
    def current_step(self) -> int:
        """Where the next operator should pick up: the first step nobody marked yet."""
        for index in range(1, len(self.step_titles) + 1):
            if str(index) not in self.steps:
                return index
        return max(1, len(self.step_titles))

    def to_doc(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Incident:
        try:
            return cls(
                id=str(doc["id"]),
                alert=str(doc.get("alert", "")),
                runbook=str(doc.get("runbook", "")),
                labels={str(k): str(v) for k, v in dict(doc.get("labels") or {}).items()},
                summary=str(doc.get("summary", "")),
                runbook_title=str(doc.get("runbook_title", "")),
                runbook_version=str(doc.get("runbook_version", "")),
                step_titles=[str(t) for t in doc.get("step_titles") or []],
                started_at=float(doc.get("started_at", 0.0)),
                started_by=str(doc.get("started_by", "")),
                ended_at=float(doc["ended_at"]) if doc.get("ended_at") is not None else None,
                ended_by=str(doc.get("ended_by", "")),
                steps={str(k): StepMark(**v) for k, v in dict(doc.get("steps") or {}).items()},
                actions=[ActionRecord(**a) for a in doc.get("actions") or []],
                version=int(doc.get("version", 0)),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise CorruptValue(f"incident document is malformed: {exc}") from None


class Incidents:
    """Incident progress; the console and the CLI use it, runbook actions feed it."""

    def __init__(self, plane: ControlPlane) -> None:
        self.plane = plane

    async def get(self, incident_id: str) -> Incident | None:
        raw = await self.plane.redis.hget(self.plane.keys.incidents, incident_id)
        doc = codec.document(raw, f"incident {incident_id!r}")
        return Incident.from_doc(doc) if doc else None

    async def require(self, incident_id: str) -> Incident:
        incident = await self.get(incident_id)
        if incident is None:
            raise NotFound(f"no incident {incident_id!r}")
        return incident

    async def list(self) -> tuple[list[Incident], list[str]]:
        """Newest first, plus one problem line per document that could not be read."""
        raw = await self.plane.redis.hgetall(self.plane.keys.incidents)
        found, problems = [], []
        for name, value in raw.items():
            label = codec.lenient_text(name)
            try:
                found.append(Incident.from_doc(codec.document(value, f"incident {label!r}") or {}))
            except CorruptValue as exc:
                problems.append(str(exc))
        found.sort(key=lambda i: i.started_at, reverse=True)
        return found, problems

    async def open(
        self,
        incident_id: str,
        *,
        alert: str,
        runbook: str,
        labels: dict[str, str] | None = None,
        summary: str = "",
        runbook_title: str = "",
        runbook_version: str = "",
        step_titles: builtins.list[str] | None = None,
    ) -> tuple[Incident, bool]:
        """Start the incident, or join it if someone already did (handoff). A resolved
        incident of the same alert instance is archived first: the alert fired again."""
        existing = await self.get(incident_id)
        if existing is not None and not existing.resolved:
            return existing, False
        if existing is not None:
            await self._archive(existing)
        now = time.time()
        incident = Incident(
            id=incident_id,
            alert=alert,
            runbook=runbook,
            labels=dict(labels or {}),
            summary=summary[:MAX_NOTE],
            runbook_title=runbook_title,
            runbook_version=runbook_version,
            step_titles=list(step_titles or []),
            started_at=now,
            started_by=self.plane.operator.name,
        )
        try:
            change = await self.plane.apply(
                hash_key=self.plane.keys.incidents,
                field=incident_id,
                entity="incident",
                action="runbook.step",
                new_doc=incident.to_doc(),
                expected_version=existing.version if existing else None,
                reason=f"incident opened: {alert} with runbook {runbook}",
            )
        except (AlreadyExists, Conflict):  # someone else opened it at the same moment
            return await self.require(incident_id), False
        return Incident.from_doc(change.doc or {}), True

    async def _archive(self, old: Incident) -> None:
        archived = Incident.from_doc(old.to_doc() | {"id": f"{old.id}@{int(old.started_at)}"})
        with contextlib.suppress(AlreadyExists):  # a concurrent open archived it already
            await self.plane.apply(
                hash_key=self.plane.keys.incidents,
                field=archived.id,
                entity="incident",
                action="runbook.step",
                new_doc=archived.to_doc(),
                expected_version=None,
                reason=f"incident {old.id} archived as {archived.id}: the alert fired again",
            )

    async def mark(
        self,
        incident_id: str,
        step: int,
        status: str,
        *,
        note: str = "",
        expected: str | None = None,
    ) -> Incident:
        """Mark a step done or skipped, or reopen it (``status="open"``).

        ``expected`` is the status the operator saw (None: unmarked); if someone else
        changed the step meanwhile, raises Conflict naming who, and changes nothing.
        """
        check_mark(status, note)
        me = self.plane.operator.name

        def change(incident: Incident) -> Incident:
            if not 1 <= step <= max(1, len(incident.step_titles)):
                raise InvalidValue(f"incident {incident_id} has no step {step}")
            current = incident.mark(step)
            if (current.status if current else None) != expected:
                raise Conflict(_changed_message(step, current), incident.to_doc())
            if status == "open":
                incident.steps.pop(str(step), None)
            else:
                incident.steps[str(step)] = StepMark(status, me, time.time(), note[:MAX_NOTE])
            return incident

        title = await self._step_title(incident_id, step)
        text = f"runbook step {step} ({title}): {status}" + (f" — {note[:200]}" if note else "")
        return await self._update(incident_id, change, "runbook.step", text)

    async def record_action(
        self,
        incident_id: str,
        step: int,
        text: str,
        *,
        ok: bool,
        message: str,
        before: dict[str, Any] | None = None,
        after: dict[str, Any] | None = None,
    ) -> Incident:
        """Add an action (run or refused) to the incident's timeline."""
        record = ActionRecord(step, text, self.plane.operator.name, time.time(), ok, message)
        record.before, record.after = before, after

        def change(incident: Incident) -> Incident:
            incident.actions = [*incident.actions, record][-MAX_ACTIONS:]
            return incident

        outcome = "ran" if ok else "failed"
        reason = f"runbook step {step}: {outcome} {text}: {message}"[:500]
        return await self._update(incident_id, change, "runbook.action", reason)

    async def resolve(self, incident_id: str, *, note: str = "") -> Incident:
        me = self.plane.operator.name

        def change(incident: Incident) -> Incident:
            if incident.resolved:
                raise Conflict(
                    f"incident {incident_id} was already resolved by {incident.ended_by}",
                    incident.to_doc(),
                )
            incident.ended_at, incident.ended_by = time.time(), me
            return incident

        reason = "incident resolved" + (f": {note[:200]}" if note else "")
        return await self._update(incident_id, change, "runbook.step", reason)

    async def _step_title(self, incident_id: str, step: int) -> str:
        incident = await self.require(incident_id)
        titles = incident.step_titles
        return titles[step - 1] if 1 <= step <= len(titles) else "?"

    async def _update(
        self,
        incident_id: str,
        change: Callable[[Incident], Incident],
        action: str,
        reason: str,
    ) -> Incident:
        self.plane.operator.require(action)
        for _ in range(RETRIES):
            current = await self.require(incident_id)
            updated = change(Incident.from_doc(current.to_doc()))
            try:
                result = await self.plane.apply(
                    hash_key=self.plane.keys.incidents,
                    field=incident_id,
                    entity="incident",
                    action=action,
                    new_doc=updated.to_doc(),
                    expected_version=current.version,
                    reason=reason,
                )
            except Conflict:
                continue  # lost a race: re-check the precondition on the fresh document
            return Incident.from_doc(result.doc or {})
        raise Conflict(f"incident {incident_id} is changing too fast; try again", None)


def check_mark(status: str, note: str) -> None:
    """Refuse a step mark that can never be applied, before anything is written."""
    if status not in (*STATUSES, "open"):
        raise InvalidValue(f"step status must be done, skipped or open, got {status!r}")
    if status == "skipped" and not note.strip():
        raise InvalidValue("skipping a step needs a note saying why")


def _changed_message(step: int, current: StepMark | None) -> str:
    if current is None:
        return f"step {step} was reopened by someone else meanwhile; have a look first"
    when = time.strftime("%H:%M:%S", time.localtime(current.at))
    note = f" ({current.note[:80]})" if current.note else ""
    return f"step {step} was already marked {current.status} by {current.by} at {when}{note}"
