"""Change events on pub/sub: what changed, to which version, by whom."""

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

    @classmethod
    def parse(cls, data: bytes | str) -> ChangeEvent | None:
        """None for anything that is not one of our events (never raises)."""
        try:
            doc = json.loads(data)
            return cls(
                entity=str(doc["entity"]),
                name=str(doc["name"]),
                action=str(doc["action"]),
                version=int(doc["version"]),
                cp_version=int(doc["cp_version"]),
                actor=str(doc.get("actor", "")),
                ts=float(doc.get("ts", 0)),
            )
        except (ValueError, KeyError, TypeError, UnicodeDecodeError):
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
