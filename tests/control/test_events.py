"""The change-event subscription: a cancelled reader stops, whatever redis-py's read does."""

from __future__ import annotations

import asyncio

from redis.asyncio.client import PubSub

from agentconsole.control.events import subscribe


async def test_a_cancellation_lost_inside_the_read_still_stops_the_reader(plane, monkeypatch):
    """redis-py's read can lose a cancellation that lands as its timeout expires (seen
    under load: the reader stayed "cancelling" and read on, and its owner waited forever).
    Here the read loses every cancellation; the subscription stops all the same."""
    real = PubSub.get_message
    reads = 0

    async def losing(self, *args, **kwargs):
        nonlocal reads
        reads += 1
        try:
            return await real(self, *args, **kwargs)
        except asyncio.CancelledError:
            return None  # what the race does: the cancellation is gone

    monkeypatch.setattr(PubSub, "get_message", losing)
    events = subscribe(plane.redis, plane.keys.events)

    async def read() -> None:
        async for _ in events:
            pass

    task = asyncio.ensure_future(read())
    while reads == 0:
        await asyncio.sleep(0.01)
    task.cancel()
    done, _ = await asyncio.wait([task], timeout=30)
    assert task in done and task.cancelled()
