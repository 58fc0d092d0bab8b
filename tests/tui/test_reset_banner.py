"""The console shows a control-plane reset in red, and drops it once an operator decided."""

from __future__ import annotations

import asyncio
import time

from agentconsole.control import backup
from agentconsole.control.epoch import SCHEMA_MISSING, Holding
from tests.tui.conftest import make_app, wait_until


async def test_reset_banner_until_restore(settings, plane):
    settings.ui.refresh_seconds = 0.2
    since = time.time() - 5
    report = Holding("agent:host-1:42", "0123456789abcdef", 17, 20, since, SCHEMA_MISSING, since)
    # what a holding agent writes (agent/snapshot.py Keeper); the wipe took the schema
    await plane.redis.hset(plane.keys.reset_holders, report.process, report.dump())
    await plane.redis.delete(plane.keys.schema, plane.keys.epoch)
    app = make_app(settings, start_view="agents", clock=time.time)
    async with app.run_test(size=(140, 40)) as pilot:
        await wait_until(pilot, lambda: app.reset_banner is not None, what="the banner")
        header = str(app.query_one("#header").render())
        clock = time.strftime("%H:%M:%S", time.gmtime(since))
        assert (
            f"control plane reset at {clock} (schema key missing; 20 agents holding their "
            "last snapshot)" in header
        )
        await backup.accept(plane, reason="start over")
        await wait_until(pilot, lambda: app.reset_banner is None, what="the banner to go")
        assert "control plane reset" not in str(app.query_one("#header").render())


async def test_wrong_type_keys_leave_redis_ok_and_show_a_problems_line(settings, plane):
    settings.ui.refresh_seconds = 0.2
    await plane.flags.create("good-flag")
    for key in (plane.keys.kills, plane.keys.breakers, plane.keys.partition(0).by_heartbeat):
        await plane.redis.delete(key)
        await plane.redis.set(key, "a string where a hash or an index belongs")
    app = make_app(settings, start_view="flags", clock=time.time)
    async with app.run_test(size=(140, 40)) as pilot:
        await wait_until(pilot, lambda: app.key_problems, what="the problems line")
        header = str(app.query_one("#header").render())
        assert app.redis_health.ok and "Redis ● ok" in header
        assert "⚠ unreadable:" in header and "holds the wrong type" in header
        for view in ("agents", "breakers", "flags"):
            await pilot.press({"agents": "2", "flags": "3", "breakers": "4"}[view])
            await app.wait_for_paint(view)
            assert not app.view(view).has_class("stale")


async def test_a_pending_four_eyes_request_is_shown_to_every_console(settings, plane_as):
    from agentconsole.control import operations

    settings.ui.refresh_seconds = 0.2
    settings.approvals.operations = ["kill.all"]
    alice = plane_as("alice", "responder")
    await alice.check_schema()
    call = operations.parse_line("kill all")
    call.reason, call.wait = "runaway", 0
    await call.op.run(alice, call)
    app = make_app(settings, start_view="agents", clock=time.time)
    async with app.run_test(size=(140, 40)) as pilot:
        await wait_until(pilot, lambda: app.asks, what="the request line")
        header = str(app.query_one("#header").render())
        ask = "⚑ alice asks: kill all (runaway) — y approves, x rejects:"
        assert ask in header


async def test_y_approves_and_x_rejects_the_pending_request(settings, plane_as):
    """bob's console (settings: bob) decides alice's requests with one key and a reason."""
    from agentconsole.control import approvals, operations
    from tests.tui.conftest import confirm

    settings.ui.refresh_seconds = 0.2
    settings.approvals.operations = ["kill.tenant"]
    settings.operator.name = "bob"
    alice = plane_as("alice", "responder")
    await alice.check_schema()
    asked = []
    for tenant in ("t-approve", "t-reject"):
        call = operations.parse_line(f"kill tenant {tenant}")
        call.reason, call.wait = "runaway", 0
        asked.append((await call.op.run(alice, call)).data["approval"]["id"])
        await asyncio.sleep(0.01)  # "oldest first" needs two different request times
    app = make_app(settings, start_view="agents", clock=time.time)
    async with app.run_test(size=(140, 40)) as pilot:
        await wait_until(pilot, lambda: len(app.asks) == 2, what="the request lines")
        await pilot.press("y")
        await confirm(pilot, reason="agreed")
        await wait_until(pilot, lambda: len(app.asks) == 1, what="the approved one to go")
        await pilot.press("x")
        await confirm(pilot, reason="not this one")
        await wait_until(pilot, lambda: not app.asks, what="the rejected one to go")
    first, second = [await approvals.get(alice, i) for i in asked]
    assert (first.status, first.decided_by) == (approvals.APPROVED, "bob")
    assert (second.status, second.decided_by) == (approvals.REJECTED, "bob")
    kills, _ = await alice.kills.list()
    assert "tenant:t-approve" in kills and "tenant:t-reject" not in kills


async def test_redis_restarted_empty_under_agents_and_the_console(redis_prefix):
    """Real processes: a redis-server restarted empty under an SDK runtime with a run going
    and a running console: the agent holds, the console shows the reset, a restore clears it."""
    from prometheus_client import CollectorRegistry

    from agentconsole.agent import AgentRuntime
    from agentconsole.config import Settings
    from agentconsole.control import ControlPlane
    from tests.fixtures.redis import start_redis

    gen = start_redis()
    server = next(gen)
    settings = Settings()
    settings.redis.url, settings.redis.prefix = server.url, redis_prefix
    settings.redis.connect_timeout = 0.5
    settings.operator.name, settings.operator.role = "alice", "admin"
    settings.ui.refresh_seconds = 0.2
    plane = ControlPlane.from_settings(settings)
    rt = AgentRuntime(settings, registry=CollectorRegistry(), resync_interval=0.2)
    try:
        await plane.check_schema()
        await plane.flags.create("tools", type="kill-switch", enabled=True)
        await plane.flags.disable("tools", reason="engaged")
        saved = await backup.take(plane)
        await rt.start()
        async with rt.run(task="long job", tenant="acme"):
            app = make_app(settings, start_view="agents", clock=time.time)
            async with app.run_test(size=(140, 40)) as pilot:
                await app.wait_for_paint("agents")
                server.kill()
                server.start()  # empty
                await wait_until(pilot, lambda: rt.keeper.holding, timeout=20, what="hold")
                await wait_until(pilot, lambda: app.reset_banner, timeout=20, what="banner")
                header = str(app.query_one("#header").render())
                assert "schema key missing; 1 agents holding their last snapshot" in header
                assert not rt.flags.enabled("tools", default=True)  # still engaged
                for _ in range(50):  # the operator's pooled connection died with the server
                    try:
                        await backup.restore(plane, saved, reason="came back empty")
                        break
                    except Exception:
                        await pilot.pause(0.1)
                await wait_until(pilot, lambda: not rt.keeper.holding, timeout=20, what="adopt")
                await wait_until(pilot, lambda: app.reset_banner is None, timeout=20, what="gone")
    finally:
        await rt.close()
        await plane.close()
        gen.close()
