"""The schema version stored in Redis, and failing fast when Redis is gone or silent."""

from __future__ import annotations

import asyncio
import socket

import pytest

from agentconsole.control import ControlPlane, Operator, SchemaMismatch, Unavailable
from agentconsole.control.keys import SCHEMA_VERSION
from tests.fixtures.procs import free_port


async def test_fresh_redis_is_stamped_but_not_by_a_viewer(settings, plane_as):
    viewer = plane_as("v", "viewer")
    assert await viewer.check_schema() == SCHEMA_VERSION
    assert await viewer.redis.get(viewer.keys.schema) is None
    admin = plane_as("a", "admin")
    assert await admin.check_schema() == SCHEMA_VERSION
    assert int(await admin.redis.get(admin.keys.schema)) == SCHEMA_VERSION


async def test_schema_from_the_future_or_garbage_is_refused(plane):
    await plane.redis.set(plane.keys.schema, SCHEMA_VERSION + 1)
    with pytest.raises(SchemaMismatch, match="upgrade agentconsole"):
        await plane.check_schema()
    await plane.redis.set(plane.keys.schema, b"\xff\xfe")
    with pytest.raises(SchemaMismatch, match="expected a schema version number"):
        await plane.check_schema()


@pytest.mark.parametrize("where", ["closed", "silent"])
async def test_unreachable_redis_fails_fast(settings, where):
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        port = free_port() if where == "closed" else listener.getsockname()[1]
        settings.redis.url = f"redis://127.0.0.1:{port}/0"
        plane = ControlPlane.from_settings(settings, Operator("a", "admin"))
        try:
            # bounded by the connect timeout, which the message names; 30 s only guards a hang
            with pytest.raises(Unavailable, match="Redis unreachable"):
                await asyncio.wait_for(plane.check_schema(), 30)
        finally:
            await plane.close()
