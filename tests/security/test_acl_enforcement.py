"""Redis itself enforces the roles: each credential tried against a real ACL'd redis-server.

The client-side role check is bypassed on purpose (a plane that *claims* admin while using a
weaker credential) so that what is proven is the server's refusal, not our own code's.
"""

from __future__ import annotations

import uuid

import pytest
from redis import exceptions as rex

from agentconsole.control import PermissionDenied
from agentconsole.control.registry import AgentRecord


def _name(stem: str) -> str:
    return f"{stem}-{uuid.uuid4().hex[:6]}"


async def _state(root_plane) -> tuple[int, int]:
    """(control-plane version, audit length): both must be unchanged after a refusal."""
    r, k = root_plane.redis, root_plane.keys
    return int(await r.get(k.version) or 0), int(await r.xlen(k.audit))


@pytest.fixture
async def admin(plane_for):
    return plane_for("admin")


async def test_viewer_can_read_everything_operators_look_at(plane_for, admin):
    flag = _name("read")
    await admin.flags.create(flag, enabled=True)
    viewer = plane_for("viewer")
    await viewer.check_schema()
    flags, problems = await viewer.flags.list()
    assert flag in {f.name for f in flags} and not problems
    assert (await viewer.flags.get(flag)).enabled
    await viewer.breakers.list()
    await viewer.kills.list()
    await viewer.agents.list()
    await viewer.agents.applied_counts()
    await viewer.budgets.get()
    await viewer.budgets.usage()
    assert [e.target for e in await viewer.audit.tail(50)].count(flag) == 1


async def test_viewer_credentials_cannot_kill_even_claiming_admin(plane_for, admin):
    mallory = plane_for("viewer", operator_role="admin")  # modified client: no local check
    before, kills = await _state(admin), await admin.kills.list()
    with pytest.raises(PermissionDenied, match="not permitted"):
        await mallory.kills.kill(everything=True, reason="evil")
    assert await admin.kills.list() == kills
    assert await _state(admin) == before


async def test_viewer_credentials_cannot_change_flags_or_budgets(plane_for, admin):
    flag = _name("guarded")
    await admin.flags.create(flag)
    mallory = plane_for("viewer", operator_role="admin")
    before = await _state(admin)
    with pytest.raises(PermissionDenied):
        await mallory.flags.enable(flag)
    with pytest.raises(PermissionDenied):
        await mallory.budgets.set("request_tokens", 1)
    assert not (await admin.flags.get(flag)).enabled
    assert await _state(admin) == before


@pytest.mark.parametrize(
    "command",
    [
        ("HSET", "{sec}:flags", "x", "{}"),
        ("HDEL", "{sec}:flags", "x"),
        ("SET", "{sec}:version", "0"),
        ("DEL", "{sec}:audit"),
        ("XADD", "{sec}:audit", "*", "actor", "forged"),
        ("PUBLISH", "{sec}:events", "{}"),
        ("EVAL", "return 1", "0"),
        ("SCRIPT", "LOAD", "return 1"),
        ("FCALL", "f", "0"),
        ("FLUSHDB",),
        ("KEYS", "*"),
        ("SCAN", "0"),
        ("GET", "not-our-prefix"),
        ("CONFIG", "GET", "requirepass"),
    ],
)
async def test_viewer_raw_commands_refused(plane_for, command):
    viewer = plane_for("viewer")
    with pytest.raises(rex.NoPermissionError):
        await viewer.redis.execute_command(*command)


async def test_responder_can_kill_and_flip_flags(plane_for, admin):
    flag = _name("resp")
    await admin.flags.create(flag)
    responder = plane_for("responder")
    await responder.check_schema()
    await responder.flags.enable(flag, reason="incident")
    await responder.flags.set_rollout(flag, 25)
    await responder.breakers.trip("llm-api", for_seconds=60)
    await responder.breakers.reset("llm-api")
    tenant = _name("t")
    outcome = await responder.kills.kill(tenant=tenant, reason="runaway")
    assert outcome.created
    await responder.kills.lift(f"tenant:{tenant}")
    entries = await admin.audit.tail(10)
    assert [e.action for e in entries][-6:] == [
        "flag.enable",
        "flag.rollout",
        "breaker.trip",
        "breaker.reset",
        "kill.tenant",
        "kill.lift",
    ]
    assert {e.actor for e in entries[-6:]} == {"responder-user"}


async def test_responder_credentials_cannot_set_budgets(plane_for, admin):
    mallory = plane_for("responder", operator_role="admin")
    limits = await admin.budgets.get()
    before = await _state(admin)
    with pytest.raises(PermissionDenied, match="not permitted by Redis"):
        await mallory.budgets.set("user_daily_tokens", 10**9)
    assert (await admin.budgets.get()).user_daily_tokens == limits.user_daily_tokens
    assert await _state(admin) == before  # refused at the first write: nothing half-applied
    with pytest.raises(rex.NoPermissionError):
        await mallory.redis.hset(mallory.keys.budgets, "limits", "{}")


@pytest.mark.parametrize(
    "command",
    [
        ("XDEL", "{sec}:audit", "0-1"),
        ("XTRIM", "{sec}:audit", "MAXLEN", "0"),
        ("XSETID", "{sec}:audit", "0-1"),
        ("DEL", "{sec}:audit"),
        ("UNLINK", "{sec}:audit"),
        ("SET", "{sec}:audit", "x"),
        ("EXPIRE", "{sec}:audit", "1"),
        ("RENAME", "{sec}:audit", "{sec}:gone"),
        ("COPY", "{sec}:flags", "{sec}:audit", "REPLACE"),
        ("RESTORE", "{sec}:audit", "0", "x", "REPLACE"),
        ("FLUSHDB",),
        ("SET", "{sec}:version", "1"),
    ],
)
async def test_responder_cannot_rewrite_the_audit_stream(plane_for, admin, command):
    await admin.flags.create(_name("hist"))  # the stream exists and has history
    responder = plane_for("responder")
    length = await admin.redis.xlen(admin.keys.audit)
    with pytest.raises(rex.NoPermissionError):
        await responder.redis.execute_command(*command)
    # ... and not from inside a script either, where the caller's ACL applies too
    script = "return redis.call(" + ", ".join(f"'{a}'" for a in command) + ")"
    keys = [a for a in command[1:] if a.startswith("{sec}:")][:1]
    with pytest.raises((rex.NoPermissionError, rex.ResponseError)) as info:
        await responder.redis.eval(script, len(keys), *keys)
    assert isinstance(info.value, rex.NoPermissionError) or "can't" in str(info.value)
    assert await admin.redis.xlen(admin.keys.audit) == length


async def test_responder_can_reap_dead_agents(plane_for, admin, acl_redis):
    agent = plane_for("agent")
    record = AgentRecord(id=_name("dead"), task="old", tenant="t1")
    await agent.agents.write_many([record], at=1.0)  # long ago
    responder = plane_for("responder")
    assert await responder.agents.reap() >= 1
    assert not await admin.agents.exists(record.id)


async def test_agent_user_does_its_job(plane_for, admin):
    agent = plane_for("agent")
    record = AgentRecord(id=_name("a"), task="summarise", user="u1", tenant="t1", model="m")
    await agent.agents.register(record)
    record.steps, record.tokens_in = 3, 120
    await agent.agents.heartbeat(record)
    reservation = await agent.budgets.reserve("u1", 100, 0.01)
    await agent.budgets.commit(reservation, 80, 0.008)
    await agent.agents.acknowledge_kill(record, {"id": "k1", "requester": "bob"})
    await agent.agents.finish(record, "finished")
    await agent.redis.hset(agent.keys.breaker_state, "llm-api", '{"state": "closed"}')
    await agent.flags.list()
    await agent.kills.list()
    await agent.breakers.list()
    await agent.budgets.get()
    got = await admin.agents.get(record.id)
    assert got is not None and got.tokens_in == 120
    assert (await admin.budgets.usage())["u1"]["tokens"] == 80


async def test_agent_user_cannot_touch_operator_state(plane_for, admin):
    flag, tenant = _name("agentproof"), _name("stopped")
    await admin.flags.create(flag)
    await admin.kills.kill(tenant=tenant)
    mallory = plane_for("agent", operator_role="admin")
    before = await _state(admin)
    with pytest.raises(PermissionDenied):
        await mallory.flags.enable(flag)
    with pytest.raises(PermissionDenied):
        await mallory.kills.lift(f"tenant:{tenant}")  # an agent cannot lift its own kill
    with pytest.raises(PermissionDenied):
        await mallory.kills.kill(everything=True)
    with pytest.raises(PermissionDenied):
        await mallory.breakers.trip("llm-api")
    for command in (
        ("HSET", "{sec}:kills", "all", "{}"),
        ("HSET", "{sec}:budgets", "limits", "{}"),
        ("XRANGE", "{sec}:audit", "-", "+"),  # operators' reasons are not the agents' business
        ("DEL", "{sec}:audit"),
    ):
        with pytest.raises(rex.NoPermissionError):
            await mallory.redis.execute_command(*command)
    assert not (await admin.flags.get(flag)).enabled
    assert await _state(admin) == before


async def test_admin_can_set_budgets_and_create_flags(plane_for):
    admin = plane_for("admin")
    limits = await admin.budgets.set("request_tokens", 5000, reason="test")
    assert limits.request_tokens == 5000
    await admin.flags.create(_name("new"))


async def test_wrong_password_is_a_clear_refusal(acl_redis):
    from agentconsole.config import Secret
    from agentconsole.control import ControlPlane

    s = acl_redis.settings("viewer")
    s.redis.password = Secret("wrong-" + acl_redis.passwords["viewer"])
    cp = ControlPlane.from_settings(s)
    try:
        with pytest.raises(PermissionDenied, match="not permitted by Redis") as info:
            await cp.check_schema()
        assert acl_redis.passwords["viewer"] not in str(info.value)
    finally:
        await cp.close()


async def test_responder_runs_incidents_and_records_silences(plane_for, admin):
    from agentconsole.control import silences
    from agentconsole.control.incidents import Incidents

    responder = plane_for("responder")
    incidents = Incidents(responder)
    incident_id = _name("inc")
    _, created = await incidents.open(
        incident_id,
        alert="AgentErrorRateHigh",
        runbook="error-rate",
        step_titles=["look", "act"],
    )
    assert created
    await incidents.mark(incident_id, 1, "done", note="checked")
    await incidents.record_action(incident_id, 2, "breaker trip llm", ok=True, message="ok")
    await incidents.resolve(incident_id, note="fixed")
    silence_id = _name("sil")
    await silences.record_created(responder, silence_id, {"matchers": []}, "maintenance")
    await silences.record_expired(responder, silence_id, "done")
    actions = [e.action for e in await admin.audit.tail(6)]
    assert "runbook.step" in actions and "silence.expire" in actions


async def test_viewer_cannot_open_incidents_or_record_silences(plane_for, admin):
    from agentconsole.control import silences
    from agentconsole.control.incidents import Incidents

    mallory = plane_for("viewer", operator_role="responder")
    before = await _state(admin)
    with pytest.raises(PermissionDenied):
        await Incidents(mallory).open(_name("inc"), alert="A", runbook="r", step_titles=["x"])
    with pytest.raises(PermissionDenied):
        await silences.record_created(mallory, _name("sil"), {}, "no")
    assert await _state(admin) == before


async def test_responder_runs_the_rollout_controller(plane_for, admin):
    """The controller's own keys (lease, status) and its audited plan changes, as responder."""
    from agentconsole.control.controller import read_status
    from agentconsole.control.lease import Lease
    from agentconsole.control.rollouts import Guard, Plan, Rollouts

    flag = _name("canary")
    await admin.flags.create(flag)
    responder = plane_for("responder")
    rollouts = Rollouts(responder)
    await rollouts.create(flag, Plan(steps_bp=[500, 10000], guards=[Guard("error_rate", 0.01)]))
    await rollouts.start(flag)
    lease = Lease(responder.redis, responder.keys, 5)
    assert await lease.keep() and await lease.keep()  # taken, then renewed
    await responder.redis.hset(responder.keys.rollout_status, flag, '{"action": "wait"}')
    assert (await read_status(admin))[flag]["action"] == "wait"
    await rollouts.rollback(flag, reason="red guard")
    await lease.release()
    assert (await lease.current_holder()) == (None, None)
    viewer = plane_for("viewer")
    with pytest.raises((rex.NoPermissionError, rex.ResponseError)):
        await Lease(viewer.redis, viewer.keys, 5).keep()
