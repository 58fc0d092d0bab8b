"""Read-only questions front-ends ask about the control plane's Redis itself.

``status``, ``acl whoami``, ``audit verify``, the console's header and its live events need
the connection, not an entity service; they ask here, so ``cli/``, ``tui/`` and
``runbook/`` never touch the Redis client (tests/test_layers.py checks it).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from agentconsole.control import codec

if TYPE_CHECKING:
    from agentconsole.control.events import ChangeEvent
    from agentconsole.control.plane import ControlPlane


async def stored_schema(plane: ControlPlane) -> str | None:
    """The schema stamp as stored (None: a fresh Redis)."""
    raw = await plane.redis.get(plane.keys.schema)
    return None if raw is None else codec.lenient_text(raw)


def problems(plane: ControlPlane, since: float = 0.0) -> list[str]:
    """Wrong-typed keys the tolerant client skipped (since ``since``, monotonic seconds)."""
    from agentconsole.control.tolerant import problems_of

    return problems_of(plane.redis, since)


async def rollout_controller(plane: ControlPlane) -> tuple[Any, Any]:
    """Who holds the rollout controller's lease, and for how many seconds more."""
    from agentconsole.control.lease import Lease

    return await Lease(plane.redis, plane.keys, 1).current_holder()


async def redis_user(plane: ControlPlane) -> str:
    """The Redis ACL user this connection authenticated as."""
    return codec.lenient_text(await plane.redis.execute_command("ACL", "WHOAMI"))


async def audit_integrity(plane: ControlPlane) -> Any:
    from agentconsole.control.acl import check_audit_integrity
    from agentconsole.control.plane import AUDIT_MAXLEN

    return await check_audit_integrity(plane.redis, plane.keys, AUDIT_MAXLEN)


def change_events(plane: ControlPlane) -> AsyncIterator[ChangeEvent]:
    """Every change event from now on (pub/sub): the console's live refresh."""
    from agentconsole.control.events import subscribe

    return subscribe(plane.redis, plane.keys.events)
