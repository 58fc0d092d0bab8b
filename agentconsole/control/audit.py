"""Reading the audit stream, which ``apply_change`` appends to in the same step as a change."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from agentconsole.control import codec

if TYPE_CHECKING:
    from redis.typing import StreamRangeResponse

    from agentconsole.control.plane import ControlPlane


@dataclass
class AuditEntry:
    id: str
    ts: float
    actor: str
    role: str
    action: str
    entity: str
    target: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    reason: str
    cp_version: int
    change_id: str = ""  # the client-generated id of the change (exactly once)

    @classmethod
    def from_stream(cls, entry_id: Any, raw: Mapping[Any, Any] | None) -> AuditEntry:
        get = {codec.lenient_text(k): v for k, v in (raw or {}).items()}
        return cls(
            id=codec.lenient_text(entry_id),
            ts=codec.number(get.get("ts")),
            actor=codec.lenient_text(get.get("actor")),
            role=codec.lenient_text(get.get("role")),
            action=codec.lenient_text(get.get("action")),
            entity=codec.lenient_text(get.get("entity")),
            target=codec.lenient_text(get.get("target")),
            before=_doc(get.get("before")),
            after=_doc(get.get("after")),
            reason=codec.lenient_text(get.get("reason")),
            cp_version=int(codec.number(get.get("cp_version"))),
            change_id=codec.lenient_text(get.get("change_id")),
        )

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _doc(raw: Any) -> dict[str, Any] | None:
    text = codec.lenient_text(raw)
    if not text:
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return {"unreadable": text[:200]}
    return value if isinstance(value, dict) else {"value": value}


class AuditLog:
    def __init__(self, plane: ControlPlane) -> None:
        self.plane = plane

    async def tail(self, count: int = 20) -> list[AuditEntry]:
        """The newest ``count`` entries, oldest first (a timeline reads top to bottom)."""
        rows = await self.plane.redis.xrevrange(self.plane.keys.audit, count=count)
        return [AuditEntry.from_stream(i, f) for i, f in reversed(rows or [])]

    async def last_id(self) -> str:
        """The newest entry's id ("0-0" when empty): where a caller's own changes start."""
        rows = await self.plane.redis.xrevrange(self.plane.keys.audit, count=1)
        if not rows:
            return "0-0"
        entry_id = rows[0][0]
        return entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)

    async def wait_after(self, last_id: str, block_ms: int, count: int = 100) -> list[AuditEntry]:
        """Entries newer than ``last_id``, waiting up to ``block_ms`` for one (XREAD)."""
        key = self.plane.keys.audit
        batches = await self.plane.redis.xread({key: last_id}, count=count, block=block_ms)
        # RESP3 answers a mapping {stream: [rows]}, RESP2 a list of [stream, rows]; redis-py's
        # declared type spans every shape its parsers can give, so the mapping is named here
        groups: Iterable[StreamRangeResponse] = (
            cast("dict[Any, StreamRangeResponse]", batches).values()
            if isinstance(batches, dict)
            else [r for _, r in batches or []]
        )
        return [AuditEntry.from_stream(i, f) for rows in groups for i, f in rows]

    async def after(self, last_id: str, count: int = 500) -> list[AuditEntry]:
        """Entries newer than ``last_id``, for a live timeline that only fetches what is new."""
        rows = await self.plane.redis.xrange(self.plane.keys.audit, min=f"({last_id}", count=count)
        return [AuditEntry.from_stream(i, f) for i, f in rows or []]

    async def between(self, start: float, end: float | None = None) -> list[AuditEntry]:
        lo = f"{int(start * 1000)}-0"
        hi = f"{int(end * 1000)}-99999999" if end else "+"
        rows = await self.plane.redis.xrange(self.plane.keys.audit, min=lo, max=hi)
        return [AuditEntry.from_stream(i, f) for i, f in rows or []]
