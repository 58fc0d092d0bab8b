"""The console as a viewer whose config claims responder: Redis refuses the kill, the
console says "not permitted" in one toast, and nothing changes."""

from __future__ import annotations

import time

import pytest

from agentconsole.control.registry import AgentRecord

pytest.importorskip("agentconsole.tui.app")

SIZE = (140, 40)


async def test_console_kill_with_viewer_credentials_is_not_permitted(acl_redis, plane_for):
    from tests.tui.conftest import confirm, make_app, select_row, wait_until

    agent = plane_for("agent")
    record = AgentRecord(id=f"console-{time.time_ns()}", task="long job", tenant="acme")
    await agent.agents.register(record)
    admin = plane_for("admin")
    kills_before, version_before = await admin.kills.list(), await admin.version()

    settings = acl_redis.settings("viewer", operator_role="responder")
    app = make_app(settings, start_view="agents", clock=time.time)
    async with app.run_test(size=SIZE) as pilot:
        await select_row(pilot, app, "agents", record.id)
        await pilot.press("k")
        await confirm(pilot, reason="should be refused")
        await wait_until(
            pilot, lambda: any("not permitted" in t for t in app.toasts), what="refusal toast"
        )
        refusal = [t for t in app.toasts if "not permitted" in t]
        assert len(refusal) == 1 and "\n" not in refusal[0].strip()
    assert await admin.kills.list() == kills_before
    assert await admin.version() == version_before


async def test_console_opens_for_a_viewer_without_writing(acl_redis, plane_for):
    """A viewer's console starts, paints and refreshes on read-only grants alone."""
    from tests.tui.conftest import make_app, wait_until

    admin = plane_for("admin")
    before = (await admin.version(), await admin.redis.xlen(admin.keys.audit))
    app = make_app(acl_redis.settings("viewer"), start_view="flags", clock=time.time)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.redis_health.ok, what="connected")
        for key, view in (("2", "agents"), ("3", "flags"), ("4", "breakers"), ("5", "audit")):
            await pilot.press(key)
            await app.wait_for_paint(view)
        assert not any("not permitted" in t for t in app.toasts), app.toasts
    assert (await admin.version(), await admin.redis.xlen(admin.keys.audit)) == before


async def test_console_kill_with_responder_credentials_works(acl_redis, plane_for):
    from tests.tui.conftest import confirm, make_app, select_row, wait_until

    agent = plane_for("agent")
    record = AgentRecord(id=f"console-ok-{time.time_ns()}", task="job", tenant="acme")
    await agent.agents.register(record)
    app = make_app(acl_redis.settings("responder"), start_view="agents", clock=time.time)
    async with app.run_test(size=SIZE) as pilot:
        await select_row(pilot, app, "agents", record.id)
        await pilot.press("k")
        await confirm(pilot, reason="allowed")
        await wait_until(pilot, lambda: any("killed" in t for t in app.toasts), what="toast")
        assert not any("not permitted" in t for t in app.toasts)
    kills, _ = await plane_for("admin").kills.list()
    assert f"agent:{record.id}" in kills
