"""Change events on pub/sub: what changed, to which version, by whom, and the new document.

An event carries the changed document (``doc``; null for a deletion) and the control
plane's epoch, so an agent applies it to its snapshot without re-reading anything, as long
as the event is the next version it expects (see agent/snapshot.py).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any


@dataclass
class ChangeEvent:
    entity: str
    name: str
    action: str
    version: int
    cp_version: int
    actor: str
    ts: float
    epoch: str = ""
    doc: dict[str, Any] | None = None
    has_doc: bool = False  # False: an event of an older release (re-read to learn the value)

    @classmethod
    def parse(cls, data: bytes | str) -> ChangeEvent | None:
        """None for anything that is not one of our events (never raises)."""
        try:
            doc = json.loads(data)
            body = doc.get("doc")
            if body is not None and not isinstance(body, dict):
                return None
            return cls(
                entity=str(doc["entity"]),
                name=str(doc["name"]),
                action=str(doc["action"]),
                version=int(doc["version"]),
                cp_version=int(doc["cp_version"]),
                actor=str(doc.get("actor", "")),
                ts=float(doc.get("ts", 0)),
                epoch=str(doc.get("epoch", "")),
                doc=body,
                has_doc="doc" in doc,
            )
        except (ValueError, KeyError, TypeError, AttributeError, UnicodeDecodeError):
            return None


async def subscribe(
    redis: Any, channel: str, on_subscribed: Callable[[], None] | None = None
) -> AsyncIterator[ChangeEvent]:
    """Yield events until cancelled; connection errors propagate so callers can resync.

    ``on_subscribed`` runs once the subscription is in place: a caller that keeps a copy
    re-reads it then, so nothing published before it listened is missed.
    """
    pubsub = redis.pubsub(ignore_subscribe_messages=True)
    try:
        await pubsub.subscribe(channel)
        if on_subscribed is not None:
            on_subscribed()
        while True:
            message = await pubsub.get_message(timeout=1.0)
            if message is None:
                continue
            event = ChangeEvent.parse(message["data"])
            if event is not None:
                yield event
    finally:
        with contextlib.suppress(Exception):  # a dead connection cannot be closed politely
            await pubsub.aclose()
