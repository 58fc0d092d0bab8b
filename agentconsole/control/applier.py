"""The applier: the one process holding the write credential; operators only send requests.

Why: Redis checks every command a script runs against the *caller's* ACL, so any credential
that may change a flag through ``apply_change`` may also write the flags hash raw, with no
audit entry and any actor. With ``control.writes: applier`` an operator's Redis user may
append only to its own request stream, ``{prefix}:requests:<user>``. The stream's name is
the actor: nobody else can name it. The applier reads every operator's stream in one
consumer group (two appliers may run; a request left pending by a dead one is claimed by
the other), takes the actor from the stream, checks the role table, which entity the
action may write, the four-eyes rule and the document (the script checks it again), and
runs the same atomic ``apply_change`` as that actor. The change id makes a request
redelivered to a second applier answer its first outcome. The answer goes to
``{prefix}:result:<change id>``, a one-entry stream the requester waits on with a blocking
read (which needs no write permission).

A request expires when its requester has stopped waiting (``wait`` seconds after the
stream entry's id, which is Redis's clock): a late applier never applies a change its
requester reported as unanswered.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from agentconsole.control import codec
from agentconsole.control.errors import (
    ControlError,
    InvalidValue,
    NoApplier,
    PermissionDenied,
    Unavailable,
)
from agentconsole.control.roles import REQUIRED_ROLE, Operator

if TYPE_CHECKING:
    from redis.typing import EncodableT, FieldT

    from agentconsole.control.keys import Keys
    from agentconsole.control.plane import ChangeRequest, ControlPlane

    StreamFields = dict[FieldT, EncodableT]  # what XADD takes

GROUP = "appliers"
REQUEST_MAXLEN = 1000  # per operator's stream, trimmed by the sender's XADD
RESULT_TTL = 600  # seconds an answer stays readable
BEAT_SECONDS = 1.0  # an applier says it is alive this often ({prefix}:appliers)
LIVE_SECONDS = 5.0  # and counts as running while its last beat is this recent
PRUNE_SECONDS = 600.0  # how often an applier forgets old decided approval requests
KEEP_DECIDED = 86400.0  # decided (or expired) requests kept this long; the audit keeps them all
CLAIM_IDLE_MS = 3000  # a request pending this long with another applier is taken over
MARGIN = 1.0  # the requester waits this much longer than the applier may still apply
MAX_WAIT = 300.0
_CHANGE_ID = re.compile(r"[A-Za-z0-9_.-]{1,64}")
REASON_MAX = 2000
FIELD_MAX = 512  # a name, a target or a request id: far below this

# Which document each action may write: the action decides the entity, never the sender.
# Actions not here (reaping, restore, registry upgrade) are not applied for anyone.
_ENTITY_BY_PREFIX = {
    "flag": "flag",
    "tenant": "flag",
    "rollout": "flag",
    "breaker": "breaker",
    "kill": "kill",
    "drain": "hold",  # drains and pauses (control/holds.py)
    "pause": "hold",
    "budget": "budget",
    "silence": "silence",
    "approval": "approval",
    "runbook": "incident",
}


_ENTITY_BY_ACTION = {"budget.tenant": "tenant_cap"}  # one tenant's cap: budgets "tenant:<t>"
# changes made with the admin credential directly, never as a request
NOT_REQUESTS = frozenset({"agent.reap", "registry.upgrade", "control.restore", "control.accept"})


def entity_of(action: str) -> str | None:
    if action not in REQUIRED_ROLE or action in NOT_REQUESTS:
        return None
    return _ENTITY_BY_ACTION.get(action) or _ENTITY_BY_PREFIX.get(action.split(".", 1)[0])


def hash_key(keys: Keys, entity: str) -> str:
    return {
        "flag": keys.flags,
        "breaker": keys.breakers,
        "kill": keys.kills,
        "hold": keys.holds,
        "budget": keys.budgets,
        "tenant_cap": keys.budgets,  # the field is checked in apply_change.lua
        "silence": keys.silences,
        "approval": keys.approvals,
        "incident": keys.incidents,
    }[entity]


def scoped(user: str, change_id: str) -> str:
    """A change id as the applier keeps it: its sender's name first. Anyone can read
    another's stream, so a change id seen there must not let them answer for it."""
    return f"{user}:{change_id}"


def requester(plane: ControlPlane) -> str:
    """Whose stream this process writes to: its Redis user (the stream's only writer)."""
    return plane.settings.redis.username or plane.operator.name


async def live_appliers(plane: ControlPlane, now: float | None = None) -> dict[str, float]:
    """Running appliers by name -> seconds since their last beat (read-only; any role)."""
    raw = await plane.redis.hgetall(plane.keys.appliers)
    now = time.time() if now is None else now
    out = {}
    for name, value in raw.items():
        try:
            age = now - float(codec.lenient_text(value))
        except ValueError:
            continue
        if age <= LIVE_SECONDS:
            out[codec.lenient_text(name)] = max(0.0, age)
    return dict(sorted(out.items(), key=lambda kv: kv[1]))


async def missing(plane: ControlPlane) -> str | None:
    """What a console says when its changes would find no applier (None: fine)."""
    if plane.settings.control.writes != "applier" or await live_appliers(plane):
        return None
    return (
        f"✖ no applier running (none seen in {LIVE_SECONDS:g} s): changes fail until "
        "`agentconsole applier` runs"
    )


# --- the requester's side ----------------------------------------------------------------


def encode(request: ChangeRequest, wait: float) -> StreamFields:
    return {
        "change_id": request.change_id,
        "entity": request.entity,
        "field": request.field,
        "action": request.action,
        "doc": "" if request.new_doc is None else codec.dump(request.new_doc),
        "expected": "" if request.expected_version is None else str(request.expected_version),
        "reason": request.reason,
        "approval": request.approval,
        "unreadable": request.unreadable,
        "wait": f"{wait:g}",
    }


async def ask(plane: ControlPlane, request: ChangeRequest) -> list[Any]:
    """Send ``request`` to the applier and wait for its answer (the script's reply shape)."""
    from agentconsole.control.plane import _maybe_sent, translate

    wait = plane.settings.control.applier_timeout_seconds
    stream = plane.keys.requests(requester(plane))
    fields = encode(request, wait)
    for attempt in (1, 2):  # a lost reply is sent again: the change id makes it one change
        try:
            await plane.redis.xadd(stream, fields, maxlen=REQUEST_MAXLEN, approximate=True)
            break
        except Exception as exc:
            err = translate(exc)
            if err is None:
                raise
            if attempt == 2 or not isinstance(err, Unavailable) or not _maybe_sent(exc):
                raise err from None
    reply = await wait_for_result(plane, scoped(requester(plane), request.change_id), wait + MARGIN)
    if reply is None:
        raise NoApplier(
            f"no applier answered within {wait:g} s: is `agentconsole applier` running, "
            f"with {requester(plane)} in its control.operators? (the request expired "
            f"unapplied: {request.action} {request.field})"
        )
    return reply


async def wait_for_result(plane: ControlPlane, change_id: str, limit: float) -> list[Any] | None:
    """Block on the result stream (absent until the applier answers), in slices shorter
    than the client's socket timeout."""
    key = plane.keys.change_result(change_id)
    slice_ms = max(100, int(plane.settings.redis.socket_timeout * 1000 * 0.8))
    deadline = time.monotonic() + limit
    while (left := deadline - time.monotonic()) > 0:
        found = await plane.redis.xread(
            {key: "0-0"}, count=1, block=min(slice_ms, int(left * 1000) + 1)
        )
        entries = _entries(found)
        if entries:
            return decode_result(entries[0][1])
    return None


def _entries(found: Any) -> list[tuple[Any, dict[Any, Any]]]:
    """XREAD's answer, RESP2 (a list of [stream, entries]) or RESP3 (a map)."""
    if not found:
        return []
    groups = found.values() if isinstance(found, dict) else [g[1] for g in found]
    out = []
    for entries in groups:
        for entry in entries or []:
            out.append((entry[0], entry[1]))
    return out


def encode_result(reply: list[Any]) -> StreamFields:
    status, raw, *rest = reply
    return {
        "status": codec.lenient_text(status),
        "raw": codec.lenient_text(raw) if raw is not None else "",
        "rest": json.dumps([int(v) if isinstance(v, int | float) else 0 for v in rest]),
    }


def decode_result(fields: dict[Any, Any]) -> list[Any]:
    got = {codec.lenient_text(k): codec.lenient_text(v) for k, v in fields.items()}
    rest = json.loads(got.get("rest") or "[]")
    return [got.get("status", ""), got.get("raw", ""), *rest]


# --- the applier's side ------------------------------------------------------------------


@dataclass
class Stats:
    applied: int = 0
    refused: int = 0
    expired: int = 0
    claimed: int = 0
    recent: list[str] = field(default_factory=list)


class Applier:
    """Reads the operators' request streams and applies each request once, as its sender.

    ``plane`` holds the write credential; its settings (``control.operators``, the role
    of each person, and ``approvals:``) are the applier's own, not the requesters'.
    """

    def __init__(self, plane: ControlPlane, consumer: str) -> None:
        self.plane = plane
        self.consumer = consumer
        self.people = dict(plane.settings.control.operators)
        self.streams = {plane.keys.requests(p): p for p in self.people}
        self.stats = Stats()
        self.say: Callable[[str], None] | None = None  # where to tell what went wrong
        self._stop = asyncio.Event()
        self._setup_due = True

    def stop(self) -> None:
        self._stop.set()

    def reload(self, people: dict[str, str]) -> str:
        """A new table of people (the config re-read): from the next poll their streams are
        read, and a removed person's are not (what they sent meanwhile expires unanswered).
        Returns what changed, for the applier's log."""
        before = self.people
        self.people = dict(people)
        self.streams = {self.plane.keys.requests(p): p for p in self.people}
        self._setup_due = True  # consumer groups for the new streams
        added = [f"{p} ({r})" for p, r in self.people.items() if p not in before]
        removed = [p for p in before if p not in self.people]
        changed = [
            f"{p} {before[p]} -> {r}" for p, r in self.people.items() if before.get(p, r) != r
        ]
        parts = [
            f"{label} {', '.join(names)}"
            for label, names in (("added", added), ("removed", removed), ("role", changed))
            if names
        ]
        return "people reloaded: " + ("; ".join(parts) if parts else "no change")

    async def setup(self) -> None:
        """One consumer group per stream, from its start: a request sent before any applier
        ran is still applied while its sender waits, and expires otherwise."""
        from redis.exceptions import ResponseError

        for stream in self.streams:
            try:
                await self.plane.redis.xgroup_create(stream, GROUP, id="0", mkstream=True)
            except ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise

    async def run(self, block_ms: int = 1000, say: Callable[[str], None] | None = None) -> None:
        """Until :meth:`stop`. Redis unreachable: say so once, retry every second (what was
        read and not acknowledged stays pending and is handled after)."""
        from agentconsole.control.plane import translate

        self.say = say or self.say
        last_claim, last_beat, last_prune, down = 0.0, 0.0, 0.0, False
        while not self._stop.is_set():
            try:
                if last_claim == 0.0 or self._setup_due:
                    self._setup_due = False
                    await self.setup()
                if time.monotonic() - last_beat >= BEAT_SECONDS:
                    await self.plane.redis.hset(
                        self.plane.keys.appliers, self.consumer, f"{time.time():.3f}"
                    )
                    last_beat = time.monotonic()
                if time.monotonic() - last_prune >= PRUNE_SECONDS or last_prune == 0.0:
                    last_prune = time.monotonic()
                    await self._housekeeping()
                if time.monotonic() - last_claim > CLAIM_IDLE_MS / 1000:
                    await self.claim()
                    last_claim = time.monotonic()
                await self.poll(block_ms)
            except Exception as exc:
                err = translate(exc)
                if not isinstance(err, Unavailable):
                    raise
                if not down and say is not None:
                    say(f"{err}: retrying every second")
                down, last_claim = True, 0.0
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), 1.0)
                continue
            if down and say is not None:
                say("Redis answers again")
            down = False
        with contextlib.suppress(Exception):  # stopping: no longer counted as running
            await self.plane.redis.hdel(self.plane.keys.appliers, self.consumer)

    async def poll(self, block_ms: int = 1000) -> int:
        """Read and handle what arrived (blocking up to ``block_ms``); how many handled."""
        if not self.streams:
            await asyncio.sleep(block_ms / 1000)
            return 0
        found = await self.plane.redis.xreadgroup(
            GROUP, self.consumer, {s: ">" for s in self.streams}, count=100, block=block_ms
        )
        return await self._handle_all(found)

    async def claim(self) -> int:
        """Take over requests another applier read and never acknowledged (it died)."""
        handled = 0
        for stream in self.streams:
            reply = await self.plane.redis.xautoclaim(
                stream, GROUP, self.consumer, CLAIM_IDLE_MS, "0-0", count=100
            )
            entries = [e for e in (reply[1] if len(reply) > 1 else []) if e and e[1]]
            self.stats.claimed += len(entries)
            handled += await self._handle_all({stream: entries})
        return handled

    async def _handle_all(self, found: Any) -> int:
        if not found:
            return 0
        groups = found.items() if isinstance(found, dict) else [(g[0], g[1]) for g in found]
        now_ms: int | None = None
        handled = 0
        for stream, entries in groups:
            stream_name = codec.lenient_text(stream)
            for entry_id, fields in entries or []:
                if now_ms is None:
                    seconds, micros = await self.plane.redis.time()
                    now_ms = int(seconds) * 1000 + int(micros) // 1000
                await self.handle(stream_name, codec.lenient_text(entry_id), fields, now_ms)
                handled += 1
        return handled

    async def handle(self, stream: str, entry_id: str, fields: dict[Any, Any], now_ms: int) -> None:
        """Apply one request (or answer why not), then acknowledge it."""
        got = {codec.lenient_text(k): codec.lenient_text(v) for k, v in fields.items()}
        change_id = got.get("change_id", "")
        actor_name = self.streams.get(stream)
        reply: list[Any]
        try:
            if actor_name is None:
                raise PermissionDenied(f"{stream}: not an operator's request stream")
            actor = Operator(actor_name, self.people[actor_name])
            request = self._decode(got)
            sent_ms = int(entry_id.split("-", 1)[0])
            wait = min(MAX_WAIT, max(0.0, float(got.get("wait") or 0)))
            if now_ms > sent_ms + wait * 1000:
                self.stats.expired += 1
                reply = ["expired", f"the applier took it after its sender's {wait:g} s"]
            else:
                reply = await self.apply(actor, request)
        except (PermissionDenied, InvalidValue) as exc:
            reply = ["invalid" if isinstance(exc, InvalidValue) else "refused", str(exc)]
        except ValueError as exc:
            reply = ["invalid", f"unreadable request: {exc}"]
        except Exception as exc:
            from agentconsole.control.plane import translate

            err = translate(exc)
            if isinstance(err, Unavailable):
                raise  # Redis is gone: leave it pending; this or another applier retries
            if not isinstance(err, ControlError):  # a bug here must not stop every change
                err = ControlError(f"the applier failed on it: {type(exc).__name__}: {exc}")
                if self.say is not None:
                    self.say(f"{actor_name} {got.get('action')}: {err}")
            reply = ["failed", str(err)]  # not a refusal: nothing to hide from the sender
        status = codec.lenient_text(reply[0])
        if status in ("ok", "again"):
            self.stats.applied += 1
        elif status in ("refused", "invalid", "failed"):
            self.stats.refused += 1
        self.stats.recent = [
            *self.stats.recent[-19:],
            f"{actor_name} {got.get('action')}: {status}",
        ]
        await self._answer(stream, entry_id, actor_name, change_id, reply)

    def _decode(self, got: dict[str, str]) -> ChangeRequest:
        from agentconsole.control.plane import ChangeRequest

        change_id = got.get("change_id", "")
        if not _CHANGE_ID.fullmatch(change_id):
            raise ValueError("change_id must be 1 to 64 letters, digits, '.', '_' or '-'")
        action = got.get("action", "")
        entity = entity_of(action)
        if entity is None:
            raise PermissionDenied(f"{action[:60]!r}: not a change the applier makes")
        if got.get("entity") != entity:
            raise PermissionDenied(f"{action} changes a {entity}, not a {got.get('entity')!r}")
        if len(got.get("field", "")) > FIELD_MAX:
            raise ValueError(f"the field is longer than {FIELD_MAX} characters")
        raw_doc = got.get("doc", "")
        doc = json.loads(raw_doc) if raw_doc else None
        if doc is not None and not isinstance(doc, dict):
            raise ValueError("the document must be a JSON object")
        expected = got.get("expected", "")
        return ChangeRequest(
            entity=entity,
            field=got.get("field", ""),
            action=action,
            new_doc=doc,
            expected_version=int(expected) if expected else None,
            reason=got.get("reason", "")[:REASON_MAX],
            change_id=change_id,
            approval=got.get("approval", ""),
            unreadable=got.get("unreadable", "")[:40],
        )

    async def apply(self, actor: Operator, request: ChangeRequest) -> list[Any]:
        """The checks the requester's own client may have skipped, then the atomic change."""
        from agentconsole.control import approvals

        actor.require(request.action)
        if not request.field:
            raise InvalidValue(f"{request.action}: names nothing")
        await approvals.enforce(self.plane, actor, request)
        key = hash_key(self.plane.keys, request.entity)
        own = dataclasses.replace(request, change_id=scoped(actor.name, request.change_id))
        return await self.plane.run_change(key, own, actor)

    async def _housekeeping(self) -> None:
        """Never a reason to stop applying: a failure here is said and skipped."""
        from agentconsole.control.plane import translate

        try:
            pruned = await self.prune_approvals()
        except Exception as exc:
            if isinstance(translate(exc), Unavailable):
                raise
            pruned, why = 0, f"pruning approval requests failed: {type(exc).__name__}: {exc}"
            if self.say is not None:
                self.say(why)
        if pruned and self.say is not None:
            self.say(f"forgot {pruned} approval request(s) decided over a day ago")

    async def prune_approvals(self, now: float | None = None) -> int:
        """Forget approval requests decided or expired more than a day ago: the hash every
        console reads stays small, and each request and decision is in the audit."""
        from agentconsole.control import approvals

        now = time.time() if now is None else now
        requests, _ = await approvals.list_requests(self.plane)
        old = [
            r.id
            for r in requests
            if (r.status != approvals.PENDING or r.expired(now))
            and max(r.decided_at, r.expires_at) < now - KEEP_DECIDED
        ]
        if old:
            await self.plane.redis.hdel(self.plane.keys.approvals, *old)
        return len(old)

    async def _answer(
        self, stream: str, entry_id: str, actor: str | None, change_id: str, reply: list[Any]
    ) -> None:
        redis = self.plane.redis
        if actor is not None and _CHANGE_ID.fullmatch(change_id):
            result = self.plane.keys.change_result(scoped(actor, change_id))
            async with redis.pipeline(transaction=False) as pipe:  # one slot; order suffices
                pipe.xadd(result, encode_result(reply), maxlen=1)
                pipe.expire(result, RESULT_TTL)
                await pipe.execute()
        await redis.xack(stream, GROUP, entry_id)
        with contextlib.suppress(Exception):  # a handled request need not stay in the stream
            await redis.xdel(stream, entry_id)
