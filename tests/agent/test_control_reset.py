"""A wiped or replaced control plane never disarms the fleet: agents hold their snapshot.

The wipe here deletes this test's own keys on the shared server (what a FLUSHALL or an
empty restart leaves, for one prefix); tests/agent/test_redis_restart.py restarts a real
redis-server empty under running agents.
"""

from __future__ import annotations

import asyncio
import json

import pytest

from agentconsole.control import backup
from agentconsole.control.epoch import EPOCH_CHANGED, SCHEMA_MISSING, VERSION_BACKWARDS
from agentconsole.control.errors import ControlPlaneReset
from tests.fixtures.wait import eventually


async def arm(plane) -> None:
    """State worth keeping: an engaged kill switch, a raised budget, a kill, a forced breaker."""
    await plane.flags.create("fast-path", enabled=True)
    await plane.flags.create("tool-calls", type="kill-switch", enabled=True)
    await plane.flags.disable("tool-calls", reason="incident")
    await plane.budgets.set("run_max_steps", 100000)
    await plane.kills.kill(tenant="evil", reason="abuse")
    await plane.breakers.trip("payments", reason="outage")
    await plane.holds.hold("drain", tenant="noisy", reason="one at a time")


async def wipe(plane, *, stamp: bool = False) -> None:
    """Delete every key of this prefix (and stamp a new schema and epoch in the same step)."""
    from agentconsole.control.epoch import INIT, Epoch

    keys = [k async for k in plane.redis.scan_iter(match=f"{plane.keys.tag}:*")]
    async with plane.redis.pipeline(transaction=True) as pipe:
        pipe.delete(*keys)
        if stamp:
            pipe.set(plane.keys.schema, 1)
            pipe.set(plane.keys.epoch, Epoch.new("someone", INIT).dump())
        await pipe.execute()


def assert_armed(rt) -> None:
    snap = rt.snapshot
    assert rt.flags.enabled("fast-path")
    assert not rt.flags.enabled("tool-calls", default=True)  # the kill switch stays engaged
    assert snap.limits.run_max_steps == 100000
    assert "tenant:evil" in snap.kills
    assert "drain:tenant:noisy" in snap.holds
    assert rt.breakers.effective("payments") == "open"


@pytest.mark.parametrize("how", ["wipe", "new-epoch", "version-backwards"])
async def test_agents_hold_their_snapshot_through_a_reset(plane, make_runtime, how):
    await arm(plane)
    rt = await make_runtime(resync_interval=0.2)
    await eventually(lambda: rt.applied_version == 7, what="the armed snapshot")
    assert_armed(rt)
    held = rt.applied_version

    if how == "wipe":
        await wipe(plane)
        reason = SCHEMA_MISSING
    elif how == "new-epoch":  # a fresh Redis stamped by some session before anyone noticed
        await wipe(plane, stamp=True)
        reason = EPOCH_CHANGED
    else:  # a failover to a replica that missed the last writes
        await plane.redis.set(plane.keys.version, held - 2)
        reason = VERSION_BACKWARDS
    await eventually(lambda: rt.keeper.holding, what="the runtime to hold")
    assert rt.keeper.reason == reason
    await asyncio.sleep(0.5)  # several resyncs later, still held
    assert_armed(rt)
    assert rt.applied_version == held
    assert rt.metrics.registry.get_sample_value("agent_control_reset") == 1

    status = await plane.reset_status()
    assert status is not None and status.reason == reason
    assert status.held_versions == {rt.snapshot.epoch.id: held}


async def test_a_normal_command_does_not_restamp_and_only_kills_pass(plane, make_runtime):
    await arm(plane)
    rt = await make_runtime(resync_interval=0.2)
    await eventually(lambda: rt.applied_version == 7, what="the armed snapshot")
    from agentconsole.agent import AgentKilled

    with pytest.raises(AgentKilled, match="still works"):
        async with rt.run(task="work", tenant="acme") as run:
            await _reset_then_kill(plane, rt, run)
    assert_armed(rt)


async def _reset_then_kill(plane, rt, run) -> None:
    await wipe(plane)
    await eventually(lambda: rt.keeper.holding, what="the runtime to hold")
    await asyncio.sleep(0.3)  # its report is written with the sync that decided to hold
    await plane.check_schema()  # as every CLI command and console session does
    assert plane.reset is not None
    assert "1 agents holding their last snapshot" in plane.reset.banner()
    assert await plane.redis.get(plane.keys.schema) is None  # nothing re-stamped
    with pytest.raises(ControlPlaneReset, match="restore"):
        await plane.flags.create("new-thing", enabled=True)
    # a kill is always possible, and a holding agent obeys it (it only makes things safer)
    await plane.kills.kill(agent=run.id, reason="still works")
    await asyncio.sleep(30)  # the kill cancels this


async def test_restore_brings_the_state_back_and_agents_adopt_it(plane, make_runtime):
    await arm(plane)
    saved = json.loads(json.dumps(await backup.take(plane)))  # as if through a file
    rt = await make_runtime(resync_interval=0.2)
    await eventually(lambda: rt.applied_version == 7, what="the armed snapshot")
    old_epoch = rt.snapshot.epoch.id
    await wipe(plane)
    await eventually(lambda: rt.keeper.holding, what="the runtime to hold")
    await plane.kills.kill(tenant="late", reason="issued during the reset")
    await plane.holds.hold("pause", tenant="late", reason="issued during the reset")

    decision = await backup.restore(plane, saved, reason="wiped by a failover")
    assert decision.kills_kept == 1 and decision.held == {old_epoch: 7}
    await eventually(lambda: not rt.keeper.holding, what="the runtime to adopt the restore")
    assert_armed(rt)
    assert "tenant:late" in rt.snapshot.kills  # a kill from the reset is never lifted
    assert "pause:tenant:late" in rt.snapshot.holds  # nor a pause
    assert set((await plane.holds.list())[0]) == {"drain:tenant:noisy", "pause:tenant:late"}
    assert rt.snapshot.epoch.id == decision.epoch.id and rt.snapshot.epoch.how == "restore"
    assert rt.metrics.registry.get_sample_value("agent_control_reset") == 0
    assert await plane.reset_status() is None
    entries = [e for e in await plane.audit.tail(20) if e.action == "control.restore"]
    assert len(entries) == 1 and entries[0].actor == "alice"
    # the restored control plane works as before, and the agent follows it
    await plane.flags.enable("tool-calls", reason="fixed")
    await eventually(lambda: rt.flags.enabled("tool-calls"), what="a change after the restore")


async def test_accept_applies_the_current_state(plane, make_runtime):
    await arm(plane)
    rt = await make_runtime(resync_interval=0.2)
    await eventually(lambda: rt.applied_version == 7, what="the armed snapshot")
    await wipe(plane)
    await eventually(lambda: rt.keeper.holding, what="the runtime to hold")
    await backup.accept(plane, reason="the old state is obsolete")
    await eventually(lambda: not rt.keeper.holding, what="the runtime to adopt")
    assert not rt.snapshot.kills and not rt.flags.enabled("fast-path")
    assert rt.snapshot.epoch.how == "accept"


async def test_restore_and_accept_need_an_admin(plane, plane_as):
    from agentconsole.control.errors import PermissionDenied

    saved = await backup.take(plane)
    bob = plane_as("bob", "responder")
    with pytest.raises(PermissionDenied):
        await backup.restore(bob, saved)
    with pytest.raises(PermissionDenied):
        await backup.accept(bob)


@pytest.mark.parametrize(
    "bad",
    [{}, {"format": "agentconsole-backup", "format_version": 9}, {"format": "x"}, []],
)
def test_a_bad_backup_file_is_refused_before_anything_is_written(bad):
    from agentconsole.control.errors import InvalidValue

    with pytest.raises(InvalidValue):
        backup.validate(bad)


async def test_a_wrong_type_control_key_keeps_the_last_value_it_read(plane, make_runtime):
    await arm(plane)
    rt = await make_runtime(resync_interval=0.1)
    await eventually(lambda: rt.applied_version == 7, what="the armed snapshot")
    async with plane.redis.pipeline(transaction=True) as pipe:  # never absent in between
        for key in (plane.keys.kills, plane.keys.flags, plane.keys.budgets, plane.keys.breakers):
            pipe.delete(key)
            pipe.set(key, "a string where a hash belongs")
        await pipe.execute()
    synced = rt.snapshot
    await eventually(lambda: rt.snapshot is not synced and rt.snapshot.unreadable, what="a sync")
    await rt.sync()
    assert rt.connected and not rt.keeper.holding
    assert_armed(rt)  # not read as "no kills, no flags, default budgets"
    assert any(f"{plane.keys.kills}: wrong type" in p for p in rt.snapshot.problems)


async def test_a_read_overtaken_by_an_event_is_stale_not_a_reset(plane, make_runtime):
    from dataclasses import replace

    await plane.flags.create("fast-path", enabled=True)
    rt = await make_runtime(resync_interval=30)
    await eventually(lambda: rt.applied_version == 1, what="the first snapshot")
    before = rt.snapshot
    newer = replace(before, version=before.version + 1)  # what an event applied meanwhile
    admitted = await rt.keeper.admit(newer, before, before)  # the read that began before it
    assert admitted is newer and not rt.keeper.holding
    older = replace(before, version=before.version - 1)  # older than when the read began
    await rt.keeper.admit(newer, older, before)
    assert rt.keeper.holding and rt.keeper.reason == VERSION_BACKWARDS
