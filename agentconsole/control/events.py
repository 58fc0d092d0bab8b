"""Change events on pub/sub: what changed, to which version, by whom, and the new document.

An event carries the changed document (``doc``; null for a deletion) and the control
plane's epoch, so an agent applies it to its snapshot without re-reading anything, as long
as the event is the next version it expects (see agent/snapshot.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import json
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import asyncio

    from agentconsole.config import RedisSettings
    from agentconsole.control.connection import RedisClient


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
    _decoded: list[Any] = field(default_factory=list, repr=False, compare=False)

    def decoded(self, build: Callable[[dict[str, Any]], Any]) -> Any:
        """``build(doc)`` once per event, however many runtimes of a process apply it."""
        if not self._decoded:
            self._decoded.append(build(self.doc or {}))
        return self._decoded[0]

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
    redis: RedisClient, channel: str, on_subscribed: Callable[[], None] | None = None
) -> AsyncGenerator[ChangeEvent, None]:
    """Yield events until cancelled; connection errors propagate so callers can resync.

    ``on_subscribed`` runs once the subscription is in place: a caller that keeps a copy
    re-reads it then, so nothing published before it listened is missed.
    """
    pubsub = redis.pubsub(ignore_subscribe_messages=True)
    try:
        await pubsub.subscribe(channel)
        if on_subscribed is not None:
            on_subscribed()
        me = asyncio.current_task()
        while True:
            message = await pubsub.get_message(timeout=1.0)
            if me is not None and me.cancelling():
                # redis-py's read can lose a cancellation that lands as its timeout expires
                # (seen under load: the task stayed "cancelling" and read on forever), so
                # a cancelled reader stops here whatever the read answered
                raise asyncio.CancelledError
            if message is None:
                continue
            event = ChangeEvent.parse(message["data"])
            if event is not None:
                yield event
    finally:
        with contextlib.suppress(Exception):  # a dead connection cannot be closed politely
            await pubsub.aclose()


# --- one subscription per process, shared by every runtime in it ---------------------------


class _Marker(enum.Enum):
    SUBSCRIBED = "subscribed"  # queued to a subscriber once the hub listens


_SUBSCRIBED = _Marker.SUBSCRIBED
_Item = ChangeEvent | BaseException | _Marker  # what a hub queues to its subscribers


class _Hub:
    """One pub/sub connection and one JSON decode per event for every subscriber in a loop.

    Why: a process that runs many runtimes (one per agent) paid redis-py's read path and
    the decode once per runtime per event; with 250 runtimes in a process that alone put
    flag propagation past 100 ms. Subscribers see exactly what :func:`subscribe` gives them:
    the subscription marker, each event, and the connection's failure (then they retry).
    """

    def __init__(self, key: tuple[Any, ...], settings: RedisSettings, channel: str) -> None:
        self.key, self.settings, self.channel = key, settings, channel
        self.queues: set[asyncio.Queue[_Item]] = set()
        self.listening = False
        self.task: asyncio.Task[None] | None = None

    def start(self) -> None:
        import asyncio

        self.task = asyncio.get_running_loop().create_task(self._run(), name="agentconsole.hub")

    def add(self, queue: asyncio.Queue[_Item]) -> None:
        self.queues.add(queue)
        if self.listening:
            queue.put_nowait(_SUBSCRIBED)

    def remove(self, queue: asyncio.Queue[_Item]) -> None:
        self.queues.discard(queue)
        if not self.queues and self.task is not None:
            _HUBS.pop(self.key, None)
            self.task.cancel()

    def _broadcast(self, item: _Item) -> None:
        for queue in list(self.queues):
            queue.put_nowait(item)

    async def _run(self) -> None:
        from agentconsole.control.connection import connect

        client = connect(self.settings, for_pubsub=True)
        try:
            async for event in subscribe(client, self.channel, self._listening):
                self._broadcast(event)
        except Exception as exc:
            _HUBS.pop(self.key, None)  # nobody joins a dead hub
            self._broadcast(exc)
        finally:
            if _HUBS.get(self.key) is self:
                del _HUBS[self.key]
            with contextlib.suppress(Exception):
                await client.aclose()

    def _listening(self) -> None:
        self.listening = True
        self._broadcast(_SUBSCRIBED)


_HUBS: dict[tuple[Any, ...], _Hub] = {}


async def subscribe_shared(
    settings: RedisSettings, channel: str, on_subscribed: Callable[[], None] | None = None
) -> AsyncGenerator[ChangeEvent, None]:
    """:func:`subscribe` over the one subscription this event loop shares for ``settings``.

    ``settings`` is a ``RedisSettings``; subscribers with the same server, user and channel
    share a connection. A failure of that connection reaches every subscriber.
    """
    import asyncio

    key = (id(asyncio.get_running_loop()), settings.url, settings.username, channel)
    hub = _HUBS.get(key)
    if hub is None:
        hub = _HUBS[key] = _Hub(key, settings, channel)
        hub.start()
    queue: asyncio.Queue[_Item] = asyncio.Queue()
    hub.add(queue)
    try:
        while True:
            item = await queue.get()
            if item is _SUBSCRIBED:
                if on_subscribed is not None:
                    on_subscribed()
            elif isinstance(item, BaseException):
                raise item
            else:
                yield item
    finally:
        hub.remove(queue)
