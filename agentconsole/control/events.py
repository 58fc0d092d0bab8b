"""Change events on pub/sub: what changed, to which version, by whom."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
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


async def subscribe(redis: Any, channel: str) -> AsyncIterator[ChangeEvent]:
    """Yield events until cancelled; connection errors propagate so callers can resync."""
    pubsub = redis.pubsub(ignore_subscribe_messages=True)
    await pubsub.subscribe(channel)
    try:
        while True:
            message = await pubsub.get_message(timeout=1.0)
            if message is None:
                continue
            event = ChangeEvent.parse(message["data"])
            if event is not None:
                yield event
    finally:
        await pubsub.aclose()
