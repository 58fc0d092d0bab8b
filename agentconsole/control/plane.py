"""The control plane's core: one client, one key schema, one operator, one change path.

Every operator action in ``control/`` ends in :meth:`ControlPlane.apply`, which runs the
``apply_change`` Lua script: compare-and-set, write, audit entry, global version bump and
change event happen in one atomic step, so an audit entry can never be missing or extra.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from agentconsole.control import codec, lua
from agentconsole.control.epoch import INIT, Epoch, ResetStatus, live_holders, status_of
from agentconsole.control.errors import (
    AlreadyExists,
    Conflict,
    ControlError,
    ControlPlaneReset,
    CorruptValue,
    InvalidValue,
    NoApplier,
    NotFound,
    PermissionDenied,
    SchemaMismatch,
    Unavailable,
)
from agentconsole.control.keys import SCHEMA_VERSION, Keys
from agentconsole.control.roles import Operator
from agentconsole.text import clean

if TYPE_CHECKING:
    from agentconsole.config import Settings
    from agentconsole.control.connection import RedisClient

AUDIT_MAXLEN = 100_000
VERSION_MARKER = "__VERSION__"
# Changes that only make the fleet safer go through even during a reset (no epoch yet).
FAIL_CLOSED = frozenset(
    {"kill.agent", "kill.tenant", "kill.all", "breaker.trip"}
    | {f"{kind}.{scope}" for kind in ("drain", "pause") for scope in ("agent", "tenant", "all")}
)


CHANGE_ID_TTL = 3600  # seconds a change id is remembered: retries come within seconds


@dataclass
class Change:
    doc: dict[str, Any] | None
    cp_version: int
    repeated: bool = False  # Redis had already applied this change id: the first outcome


@dataclass
class ChangeRequest:
    """One change as its requester describes it (the actor and role are not part of it: the
    direct path adds its own operator, the applier the owner of the request stream)."""

    entity: str
    field: str
    action: str
    new_doc: dict[str, Any] | None
    expected_version: int | None
    reason: str
    change_id: str
    approval: str = ""  # the four-eyes request this change carries out (control/approvals.py)
    # the SHA-1 of a stored value that does not parse, to delete exactly it (a lift of an
    # unreadable kill or hold: it has no version to compare)
    unreadable: str = ""


def new_change_id() -> str:
    return uuid.uuid4().hex


def _maybe_sent(exc: BaseException) -> bool:
    """A connection lost *after* the request may have been sent (not a refused connect)."""
    from redis import exceptions as rex

    if not isinstance(exc, rex.ConnectionError | rex.TimeoutError | ConnectionError | TimeoutError):
        return False
    return "connecting to" not in str(exc).lower()


def translate(exc: BaseException) -> ControlError | None:
    """Map a redis-py exception to the error an operator should read, or None."""
    from redis import exceptions as rex

    if isinstance(exc, ControlError):
        return exc
    if isinstance(exc, rex.NoPermissionError | rex.AuthenticationError):
        return PermissionDenied(f"not permitted by Redis: {exc}")
    if isinstance(exc, rex.ResponseError) and (
        "NOPERM" in str(exc) or "The user executing the script can't" in str(exc)
    ):
        # An ACL refusal inside a Lua script is a plain ERR that ends with the script's sha.
        return PermissionDenied(f"not permitted by Redis: {str(exc).split(' script: ')[0]}")
    if isinstance(exc, rex.ResponseError) and str(exc).startswith("WRONGTYPE"):
        return CorruptValue(
            "a control-plane key in Redis holds the wrong type of value (not what this "
            "version writes); inspect it with redis-cli TYPE"
        )
    if isinstance(exc, BrokenPipeError):  # our own stdout closed (`| head`): not Redis
        return None
    if isinstance(exc, rex.ConnectionError | rex.TimeoutError | ConnectionError | TimeoutError):
        return Unavailable(f"Redis unreachable: {exc or type(exc).__name__}")
    if isinstance(exc, rex.InvalidResponse):  # something else listens there (HTTP, TLS)
        return Unavailable(f"Redis unreachable: what answers there is not Redis ({exc})")
    return None


class ControlPlane:
    """Facade over the entity services; the CLI, the console and runbooks all use it."""

    def __init__(
        self,
        redis: RedisClient,
        keys: Keys,
        operator: Operator,
        settings: Settings | None = None,
    ) -> None:
        from agentconsole.config import Settings
        from agentconsole.control.audit import AuditLog
        from agentconsole.control.breakers import Breakers
        from agentconsole.control.budgets import Budgets
        from agentconsole.control.flags import Flags
        from agentconsole.control.holds import Holds
        from agentconsole.control.kills import Kills
        from agentconsole.control.registry import Registry

        self.redis = redis
        self.keys = keys
        self.operator = operator
        self.settings = settings or Settings()
        self._apply = lua.register(redis, "apply_change")
        self.reset: ResetStatus | None = None  # set by check_schema
        self.notes: list[str] = []  # what a front end should tell: e.g. a retried lost reply
        self.flags = Flags(self)
        self.breakers = Breakers(self)
        self.kills = Kills(self)
        self.holds = Holds(self)
        self.agents = Registry(self)
        self.budgets = Budgets(self)
        self.audit = AuditLog(self)

    @classmethod
    def from_settings(cls, settings: Settings, operator: Operator | None = None) -> ControlPlane:
        from agentconsole.control.connection import connect

        operator = operator or Operator(settings.operator_name, settings.role)
        keys = Keys(settings.redis.prefix, settings.registry.partitions)
        return cls(connect(settings.redis), keys, operator, settings)

    async def close(self) -> None:
        await self.redis.aclose()

    async def check_schema(self) -> int:
        """Stamp a fresh Redis with our schema version and a new epoch; refuse a newer schema.

        A missing schema while agents hold their last snapshot is a reset, not a fresh Redis:
        nothing is stamped (no silent re-initialisation), :attr:`reset` says so, and changes
        other than kills are refused until an operator restores or accepts (control/backup.py).
        The first round trip is bounded by the connect timeout: a Redis that accepts the
        connection but never answers must fail as fast as one that refuses it.
        """
        import asyncio

        limit = self.settings.redis.connect_timeout
        try:
            async with asyncio.timeout(limit):
                raw, raw_epoch = await self.redis.mget(self.keys.schema, self.keys.epoch)
        except TimeoutError:
            raise Unavailable(f"Redis unreachable: no answer within {limit:g} s") from None
        except Exception as exc:
            err = translate(exc)
            if err is None:
                raise
            raise err from None
        await self.agents.check_layout()
        self.reset = await self.reset_status(schema_missing=raw is None)
        if raw is None and await self.redis.type(self.keys.schema) not in (b"none", "none"):
            raise SchemaMismatch(
                f"{self.keys.schema}: holds the wrong type of value (expected a string with "
                "the schema version); inspect it with redis-cli TYPE"
            )
        writer = self.settings.control.writes == "direct"  # else only the applier writes
        if raw is None:
            if self.operator.role != "viewer" and self.reset is None and writer:
                await self._stamp()
            return SCHEMA_VERSION
        try:
            found = int(raw)
        except ValueError:
            raise SchemaMismatch(
                f"{self.keys.schema}: expected a schema version number, found {raw[:40]!r}"
            ) from None
        if found > SCHEMA_VERSION:
            raise SchemaMismatch(
                f"the control plane in Redis uses schema v{found}, this agentconsole "
                f"understands up to v{SCHEMA_VERSION}: upgrade agentconsole"
            )
        if raw_epoch is None and self.operator.role == "admin" and writer:
            # a control plane written before epochs existed: its admin gives it one, once
            epoch = Epoch.new(self.operator.name, INIT).dump()
            await self.redis.set(self.keys.epoch, epoch, nx=True)
        return found

    async def _stamp(self) -> None:
        """Schema and epoch of a fresh control plane, together (MULTI), each only if absent."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(self.keys.schema, SCHEMA_VERSION, nx=True)
            pipe.set(self.keys.epoch, Epoch.new(self.operator.name, INIT).dump(), nx=True)
            await pipe.execute()

    @staticmethod
    def _refused(action: str, reset: ResetStatus | None) -> ControlPlaneReset:
        banner = reset.banner() if reset else "control plane reset (epoch missing)"
        return ControlPlaneReset(
            f"{banner}: {action} refused until an operator restores a backup "
            "(`agentconsole restore FILE`) or accepts the current state "
            "(`agentconsole restore --accept`); kills and breaker trips still work"
        )

    async def epoch(self) -> Epoch | None:
        return Epoch.parse(await self.redis.get(self.keys.epoch))

    async def reset_status(self, *, schema_missing: bool | None = None) -> ResetStatus | None:
        """Is a reset in progress? Reads the holders' reports (empty unless one is)."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.exists(self.keys.schema)
            pipe.hgetall(self.keys.reset_holders)
            exists, raw = await pipe.execute()
        missing = not exists if schema_missing is None else schema_missing
        holders = live_holders(raw, time.time(), self.settings.registry.dead_after_seconds)
        return status_of(holders, missing)

    async def version(self) -> int:
        return int(await self.redis.get(self.keys.version) or 0)

    async def apply(
        self,
        *,
        hash_key: str,
        field: str,
        entity: str,
        action: str,
        new_doc: dict[str, Any] | None,
        expected_version: int | None,
        reason: str = "",
        change_id: str | None = None,
        unreadable: bytes | None = None,
    ) -> Change:
        """Atomically change one document; ``expected_version=None`` means create-if-absent.

        Exactly once: the change carries a client-generated id (``change_id``, one per
        operator action) that the script remembers for an hour. When the reply is lost after
        the request may have reached Redis, it is asked once more with the same id: Redis
        answers with the first outcome ("already applied as version 42") or applies it now,
        never twice. What happened is added to :attr:`notes` for the front end to say.

        The one switch of the write path (``control.writes``): ``direct`` runs the script
        with this process's credential; ``applier`` sends the request to
        ``agentconsole applier`` (control/applier.py), which holds the write credential, and
        waits for its answer.

        ``unreadable``: the stored value, read by the caller, that does not parse; the change
        deletes exactly that value (compared by its SHA-1) instead of comparing a version.
        """
        from agentconsole.control import approvals

        self.operator.require(action)
        if self.reset is not None and action not in FAIL_CLOSED:
            raise self._refused(action, self.reset)
        request = ChangeRequest(
            entity=entity,
            field=field,
            action=action,
            new_doc=new_doc,
            expected_version=expected_version,
            reason=reason or "",
            change_id=change_id or new_change_id(),
            approval=approvals.carried(),
            unreadable=hashlib.sha1(unreadable).hexdigest() if unreadable is not None else "",
        )
        if self.settings.control.writes == "applier":
            from agentconsole.control.applier import ask

            reply = await ask(self, request)
        else:
            reply = await self.run_change(hash_key, request, self.operator)
        return await self._outcome(request, reply)

    async def run_change(
        self, hash_key: str, request: ChangeRequest, operator: Operator
    ) -> list[Any]:
        """Run ``apply_change`` as ``operator`` (the applier passes the requester): the raw
        reply, asked once more with the same change id when the first reply was lost."""
        payload = ""
        if request.new_doc is not None:
            marked = dict(request.new_doc)
            marked["version"] = VERSION_MARKER
            payload = codec.dump(marked)
        expected = request.expected_version
        mode = "if_absent" if expected is None else "cas"
        before = ""
        if request.unreadable:
            if request.new_doc is not None:
                raise InvalidValue("an unreadable document can only be deleted")
            mode, before = "unreadable", await self._unreadable_before(hash_key, request.field)
        args = [
            request.field,
            mode,
            request.unreadable or expected or 0,
            payload,
            operator.name,
            operator.role,
            request.action,
            request.entity,
            request.reason,
            f"{time.time():.3f}",
            AUDIT_MAXLEN,
            self.keys.events,
            "1" if request.action in FAIL_CLOSED else "0",
            request.change_id,
            CHANGE_ID_TTL,
            before,
        ]
        keys = [
            hash_key,
            self.keys.audit,
            self.keys.version,
            self.keys.epoch,
            self.keys.reset_holders,
            self.keys.change(request.change_id),
        ]
        lost: ControlError | None = None
        while True:
            try:
                reply = list(await self._apply(keys=keys, args=args))
                break
            except Exception as exc:
                err = translate(exc)
                if err is None:
                    raise
                if lost is not None or not isinstance(err, Unavailable) or not _maybe_sent(exc):
                    raise err from None
                lost = err
        if lost is not None:
            status = codec.text(reply[0], "apply_change status") or ""
            self.notes.append(_retried(request.action, request.field, status, reply[2:]))
        return reply

    async def _unreadable_before(self, hash_key: str, field: str) -> str:
        """What the audit's "before" says of a value that does not parse: why, and the value
        sanitised and cut (never the raw bytes: they may be anything)."""
        raw = await self.redis.hget(hash_key, field)
        return codec.dump(
            {
                "unreadable": codec.problem(raw) or "unreadable",
                "stored": clean(codec.lenient_text(raw), 120),
            }
        )

    async def _outcome(self, request: ChangeRequest, reply: list[Any]) -> Change:
        """What a reply of ``apply_change`` (or of the applier, which adds ``refused``)
        means for the caller: the new document, or the error to show."""
        entity, field, action = request.entity, request.field, request.action
        status, raw, *rest = reply
        status = codec.text(status, "apply_change status") or ""  # the script always answers
        if status == "reset":
            self.reset = await self.reset_status()
            raise self._refused(action, self.reset)
        if status == "invalid":
            why = codec.lenient_text(raw)
            raise InvalidValue(f"{entity} {field!r}: refused by the control plane: {why}")
        if status == "refused":  # the role, the action's entity, the four-eyes rule
            raise PermissionDenied(f"refused by the applier: {codec.lenient_text(raw)}")
        if status == "failed":  # the applier could not (a wrong-typed key, its own bug)
            raise ControlError(f"{action} {field}: not applied: {codec.lenient_text(raw)}")
        if status == "expired":  # not applied: a request is never applied late
            raise NoApplier(f"{action} {field}: not applied: {codec.lenient_text(raw)}")
        if status in ("ok", "again"):
            doc = codec.document(raw, f"{entity} {field}") if raw else None
            return Change(doc, int(rest[0]), repeated=status == "again")
        if request.unreadable:  # compared by value: gone, or rewritten since it was read
            if not raw:
                raise NotFound(f"no {entity} named {field!r}")
            raise Conflict(f"{entity} {field!r} changed since it was read: nothing lifted", None)
        current = codec.document(raw, f"{entity} {field}") if raw else None
        if status == "exists":
            raise _exists(entity, field, current)
        if current is None:
            raise NotFound(f"no {entity} named {field!r}")
        if request.expected_version == 0:
            raise _exists(entity, field, current)
        raise Conflict(
            f"{entity} {field!r} was changed by {current.get('changed_by', '?')} "
            f"(now version {current.get('version')}, you had version "
            f"{request.expected_version}): current value {json.dumps(_summary(current))}",
            current,
        )


def _retried(action: str, field: str, status: str, rest: list[Any]) -> str:
    head = f"the reply to {action} {field} was lost; asked Redis again with the same change id"
    if status == "again":
        return f"{head}: already applied as version {int(rest[0])}"
    if status == "ok":
        return f"{head}: it had not arrived, applied now as version {int(rest[0])}"
    return f"{head}: {status}"


def lost_race(entity: str, field: str, exc: AlreadyExists) -> Conflict:
    """For set-style changes (a breaker mode, the budget limits): someone else wrote the first
    version while we were changing "nothing yet" — a conflict showing their value, not a
    confusing "already exists"."""
    current = exc.current or {}
    return Conflict(
        f"{entity} {field!r} was changed by {current.get('changed_by', '?')} meanwhile "
        f"(now version {current.get('version')}): current value {json.dumps(_summary(current))}",
        current,
    )


def _exists(entity: str, field: str, current: dict[str, Any] | None) -> AlreadyExists:
    return AlreadyExists(f"{entity} {field!r} already exists", current)


def _summary(doc: dict[str, Any]) -> dict[str, Any]:
    skip = {"description", "allow", "deny"}
    return {k: v for k, v in doc.items() if k not in skip}
