"""Four-eyes for the biggest levers: an operation named in ``approvals:`` needs a second operator.

The first operator's request is stored (who, what, why, until when) in
``{prefix}:approvals``; any console shows it; a *different* operator whose role may run the
operation approves it (which runs it, through the same operations table and atomic change
path) or rejects it. Every step is one audit entry. An emergency override runs it at once,
loudly, audited as ``approval.override``. The gate is :func:`gate`, called by
``Operation.run``: no front-end can forget it.

A client can skip its own gate, so with ``control.writes: applier`` the applier enforces
the rule too (:func:`enforce`): a change to an action named in ``approvals:`` must carry an
approved request decided by its requester's peer, or an override of the requester's own.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from agentconsole.control import codec
from agentconsole.control.errors import CorruptValue, InvalidValue, NotFound, PermissionDenied

if TYPE_CHECKING:
    from agentconsole.control.operations import Call, Outcome
    from agentconsole.control.plane import ChangeRequest, ControlPlane
    from agentconsole.control.roles import Operator

PENDING, APPROVED, REJECTED, OVERRIDDEN = "pending", "approved", "rejected", "overridden"
# The request the running operation carries out: every change it makes names it, so the
# applier can check the approval (a context variable: one per task, never shared).
_CARRIED: ContextVar[str] = ContextVar("approval_carried", default="")


def carried() -> str:
    return _CARRIED.get()


@contextlib.contextmanager
def carrying(call: Call) -> Iterator[None]:
    """While ``call`` runs, its changes carry its approval (or override) request id."""
    token = _CARRIED.set(call.approved)
    try:
        yield
    finally:
        _CARRIED.reset(token)


@dataclass
class Request:
    id: str
    operation: str
    line: str
    reason: str
    requested_by: str
    requested_role: str
    requested_at: float
    expires_at: float
    status: str = PENDING
    decided_by: str = ""
    decided_at: float = 0.0
    decision_reason: str = ""
    outcome: str = ""
    version: int = 0

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Request:
        try:
            return cls(
                id=str(doc["id"]),
                operation=str(doc["operation"]),
                line=str(doc["line"]),
                reason=str(doc.get("reason", "")),
                requested_by=str(doc["requested_by"]),
                requested_role=str(doc.get("requested_role", "")),
                requested_at=float(doc.get("requested_at", 0)),
                expires_at=float(doc.get("expires_at", 0)),
                status=str(doc.get("status", PENDING)),
                decided_by=str(doc.get("decided_by", "")),
                decided_at=float(doc.get("decided_at", 0)),
                decision_reason=str(doc.get("decision_reason", "")),
                outcome=str(doc.get("outcome", "")),
                version=int(doc.get("version", 0)),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise CorruptValue(f"approval request: unreadable document ({exc})") from None

    def doc(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        out.pop("version")
        return out

    def expired(self, now: float | None = None) -> bool:
        return self.status == PENDING and (now or time.time()) >= self.expires_at

    @property
    def state(self) -> str:
        return "expired" if self.expired() else self.status

    def ask(self) -> str:
        """What every console shows: "alice asks: kill all (runaway) — y approves, ...".

        It ends with the request's id: the console's completion and keys read it there."""
        why = f" ({self.reason})" if self.reason else ""
        return f"{self.requested_by} asks: {self.line}{why} — y approves, x rejects: {self.id}"


def required(plane: ControlPlane, operation: str) -> bool:
    cfg = plane.settings.approvals
    if operation not in cfg.operations:
        return False
    return not cfg.environments or plane.settings.environment.name in cfg.environments


async def gate(plane: ControlPlane, call: Call) -> Outcome | None:
    """None: run it now. Otherwise the outcome to report instead (a request was stored)."""
    from agentconsole.control.operations import Outcome

    op = call.op
    if call.approved or not required(plane, op.name):
        return None
    if call.override:
        overridden = _new(plane, call, OVERRIDDEN)
        await _store(plane, overridden, "approval.override", None)
        call.approved = overridden.id  # what the changes carry: the applier checks it
        return None
    request = _new(plane, call, PENDING)
    await _store(plane, request, "approval.request", None)
    return Outcome(
        f"{op.verb} needs a second operator: request {request.id} stored, valid until "
        f"{time.strftime('%H:%M:%S', time.gmtime(request.expires_at))} UTC; another "
        f"operator approves with `agentconsole approvals approve {request.id}` (or runs it "
        "now with --emergency-override, audited as such)",
        {"approval": request.doc(), "applied": False},
        warning=True,
    )


async def list_requests(plane: ControlPlane) -> tuple[list[Request], list[str]]:
    raw = await plane.redis.hgetall(plane.keys.approvals)
    found, problems = [], []
    for field, value in raw.items():
        label = codec.lenient_text(field)
        try:
            found.append(Request.from_doc(codec.document(value, f"approval {label!r}") or {}))
        except CorruptValue as exc:
            problems.append(str(exc))
    found.sort(key=lambda r: r.requested_at)
    return found, problems


async def pending(plane: ControlPlane) -> list[Request]:
    requests, _ = await list_requests(plane)
    return [r for r in requests if r.state == PENDING]


async def get(plane: ControlPlane, request_id: str) -> Request:
    raw = await plane.redis.hget(plane.keys.approvals, request_id)
    doc = codec.document(raw, f"approval {request_id!r}")
    if doc is None:
        raise NotFound(f"no approval request {request_id!r}")
    return Request.from_doc(doc)


async def approve(plane: ControlPlane, request_id: str, reason: str = "") -> Outcome:
    """Approve (by a different operator whose role may run it) and run the operation."""
    from agentconsole.control import operations

    request = await _decidable(plane, request_id, "approval.approve")
    op = operations.get(request.operation)
    if not plane.operator.can(op.permission):
        raise PermissionDenied(
            f"{plane.operator.name} ({plane.operator.role}) may not run {op.verb}, so may "
            "not approve it"
        )
    decided = _decided(plane, request, APPROVED, reason)
    await _store(plane, decided, "approval.approve", request.version)
    call = operations.parse_line(request.line)
    call.reason = f"{request.reason} (approved request {request.id} of {request.requested_by})"
    call.approved = request.id
    outcome = await call.op.run(plane, call)
    outcome.text = f"approved {request.requested_by}'s request {request.id}: {outcome.text}"
    return outcome


async def reject(plane: ControlPlane, request_id: str, reason: str = "") -> Request:
    request = await _decidable(plane, request_id, "approval.reject")
    decided = _decided(plane, request, REJECTED, reason)
    await _store(plane, decided, "approval.reject", request.version)
    return decided


async def _decidable(plane: ControlPlane, request_id: str, action: str) -> Request:
    plane.operator.require(action)
    request = await get(plane, request_id)
    if request.expired():
        raise InvalidValue(
            f"request {request.id} expired at "
            f"{time.strftime('%H:%M:%S', time.gmtime(request.expires_at))} UTC: ask again"
        )
    if request.status != PENDING:
        raise InvalidValue(
            f"request {request.id} was already {request.status} by {request.decided_by}"
        )
    if request.requested_by == plane.operator.name:
        raise PermissionDenied(
            f"{plane.operator.name} asked for {request.line}: a different operator must "
            "decide (four eyes)"
        )
    return request


def _new(plane: ControlPlane, call: Call, status: str) -> Request:
    now = time.time()
    return Request(
        id=uuid.uuid4().hex[:8],
        operation=call.op.name,
        line=call.line,
        reason=call.reason,
        requested_by=plane.operator.name,
        requested_role=plane.operator.role,
        requested_at=round(now, 3),
        expires_at=round(now + plane.settings.approvals.expiry_seconds, 3),
        status=status,
        decided_by=plane.operator.name if status == OVERRIDDEN else "",
        decided_at=round(now, 3) if status == OVERRIDDEN else 0.0,
    )


def _decided(plane: ControlPlane, request: Request, status: str, reason: str) -> Request:
    return Request(
        **{
            **request.__dict__,
            "status": status,
            "decided_by": plane.operator.name,
            "decided_at": round(time.time(), 3),
            "decision_reason": reason,
        }
    )


async def _store(plane: ControlPlane, request: Request, action: str, expected: int | None) -> None:
    plane.operator.require(action)
    await plane.apply(
        hash_key=plane.keys.approvals,
        field=request.id,
        entity="approval",
        action=action,
        new_doc=request.doc(),
        expected_version=expected,
        reason=request.decision_reason or request.reason,
    )


# --- enforced by the applier (control/applier.py) -------------------------------------------

_FIXED: tuple[str, ...] = ("id", "operation", "line", "reason", "requested_by", "requested_role")
_FIXED += ("requested_at", "expires_at")


async def enforce(plane: ControlPlane, actor: Operator, request: ChangeRequest) -> None:
    """Refuse (PermissionDenied) a change the four-eyes rule does not allow ``actor``.

    ``plane`` is the applier's (its own settings decide which actions need approval);
    ``actor`` is the owner of the request stream, which the requester cannot choose.
    """
    if request.entity == "approval":
        await _enforce_decision(plane, actor, request)
        return
    if not required(plane, request.action):
        return
    if not request.approval:
        raise PermissionDenied(
            f"{request.action} needs a second operator (four eyes): ask for it, another "
            "operator approves (or use --emergency-override, audited)"
        )
    stored = await get(plane, request.approval)
    if stored.operation != request.action:
        raise PermissionDenied(
            f"request {stored.id} is for {stored.operation}, not {request.action}"
        )
    window = plane.settings.approvals.expiry_seconds
    fresh = time.time() < stored.decided_at + window
    _same_target(stored, request)
    if stored.status == APPROVED and fresh and stored.decided_by == actor.name:
        if stored.requested_by == actor.name:  # a stored document that says so is forged
            raise PermissionDenied(f"request {stored.id}: approved by its own requester")
        return
    if stored.status == OVERRIDDEN and fresh and stored.requested_by == actor.name:
        return  # the emergency override: audited as approval.override by the same person
    raise PermissionDenied(
        f"request {stored.id} ({stored.state}, decided by {stored.decided_by or 'nobody'}) "
        f"does not allow {actor.name} to run {request.action}"
    )


def _same_target(stored: Request, request: ChangeRequest) -> None:
    """An approval of ``kill tenant acme`` does not allow killing globex: the change must
    name one of the request's subjects (its agent, tenant, flag...), when it has any."""
    from agentconsole.control import operations

    call = operations.parse_line(stored.line)
    subjects = [
        str(v)
        for p in call.op.params
        if p.subject and call.args.get(p.name) is not None
        for v in (call.args[p.name] if p.many else [call.args[p.name]])
    ]
    field = request.field
    if subjects and not any(field == v or field.endswith(":" + v) for v in subjects):
        raise PermissionDenied(
            f"request {stored.id} is for {stored.line}, not a change to {field[:80]!r}"
        )


async def _enforce_decision(plane: ControlPlane, actor: Operator, request: ChangeRequest) -> None:
    doc = Request.from_doc({**(request.new_doc or {}), "version": 0})
    if doc.id != request.field:
        raise PermissionDenied(f"approval {request.field!r}: the document names {doc.id!r}")
    if request.action in ("approval.request", "approval.override"):
        status = PENDING if request.action == "approval.request" else OVERRIDDEN
        mine = doc.requested_by == actor.name and doc.requested_role == actor.role
        if doc.status != status or not mine or request.expected_version is not None:
            raise PermissionDenied(
                f"{request.action}: a new request is {status}, asked by its sender "
                f"({actor.name}, {actor.role})"
            )
        if status == OVERRIDDEN and doc.decided_by != actor.name:
            raise PermissionDenied("approval.override: decided by its requester, loudly")
        return
    want = {"approval.approve": APPROVED, "approval.reject": REJECTED}.get(request.action)
    if want is None:
        raise PermissionDenied(f"{request.action}: not a decision on an approval")
    stored = await get(plane, request.field)
    if stored.version != request.expected_version:
        raise PermissionDenied(f"request {stored.id} changed meanwhile: decide again")
    if stored.expired():
        raise PermissionDenied(f"request {stored.id} expired: ask again")
    if stored.status != PENDING:
        raise PermissionDenied(f"request {stored.id} was already {stored.status}")
    if stored.requested_by == actor.name:
        raise PermissionDenied(
            f"{actor.name} asked for {stored.line}: a different operator must decide (four eyes)"
        )
    changed = [k for k in _FIXED if getattr(doc, k) != getattr(stored, k)]
    if changed or doc.status != want or doc.decided_by != actor.name:
        raise PermissionDenied(
            f"{request.action} of {stored.id}: only status and decision by {actor.name} may "
            f"change ({', '.join(changed) or 'status/decided_by'} differ)"
        )
    if want == APPROVED:
        from agentconsole.control import operations

        op = operations.get(stored.operation)
        if not actor.can(op.permission):
            raise PermissionDenied(
                f"{actor.name} ({actor.role}) may not run {op.verb}, so may not approve it"
            )
