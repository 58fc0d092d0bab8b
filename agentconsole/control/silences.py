"""The audit side of Alertmanager silences created or expired from the console.

Why in the control plane: Alertmanager keeps the silence, but the team's record of who
silenced what, when and why belongs in the same audit log as every other operator action.
Each record goes through ``ControlPlane.apply`` (role check, write, audit entry, change
event in one atomic step) on the ``silences`` hash, keyed by Alertmanager's silence id.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from agentconsole.control import codec
from agentconsole.control.errors import CorruptValue

if TYPE_CHECKING:
    from agentconsole.control.plane import ControlPlane


async def record_created(
    plane: ControlPlane, silence_id: str, doc: dict[str, Any], comment: str
) -> None:
    await plane.apply(
        hash_key=plane.keys.silences,
        field=silence_id,
        entity="silence",
        action="silence.create",
        new_doc={**doc, "id": silence_id, "state": "active", "created_by": plane.operator.name},
        expected_version=None,
        reason=comment,
    )


async def record_expired(plane: ControlPlane, silence_id: str, reason: str = "") -> None:
    """Mark expired; a silence made outside the console gets a record of its expiry only."""
    current = await get(plane, silence_id)
    doc = dict(current or {"id": silence_id, "created_by": None, "external": True})
    doc.pop("version", None)
    doc.update(state="expired", expired_by=plane.operator.name, expired_at=time.time())
    await plane.apply(
        hash_key=plane.keys.silences,
        field=silence_id,
        entity="silence",
        action="silence.expire",
        new_doc=doc,
        expected_version=int(current.get("version", 0)) if current else None,
        reason=reason,
    )


async def get(plane: ControlPlane, silence_id: str) -> dict[str, Any] | None:
    raw = await plane.redis.hget(plane.keys.silences, silence_id)
    return codec.document(raw, f"silence {silence_id!r}")


async def list_recorded(plane: ControlPlane) -> tuple[dict[str, dict[str, Any]], list[str]]:
    raw = await plane.redis.hgetall(plane.keys.silences)
    out, problems = {}, []
    for key, value in raw.items():
        sid = codec.lenient_text(key)
        try:
            out[sid] = codec.document(value, f"silence {sid!r}") or {}
        except CorruptValue as exc:
            problems.append(str(exc))
    return out, problems
