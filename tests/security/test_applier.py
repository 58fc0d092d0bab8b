"""Applier mode: per-person credentials that can only send requests, one applier that writes.

Raw redis-py as a person proves what Redis refuses; a real ``Applier`` (the admin credential)
proves that a request is applied once, as the stream's owner, with the same rules the
operations table and the four-eyes policy set, whatever the requester's client skipped.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid

import pytest
import redis

from agentconsole.control import ControlPlane, Operator, PermissionDenied, codec
from agentconsole.control.applier import Applier, wait_for_result
from agentconsole.control.errors import ControlError, NoApplier
from agentconsole.control.keys import Keys
from tests.security.conftest import PEOPLE, PREFIX

KEYS = Keys(PREFIX)


def _raw(acl_redis, people, person: str) -> redis.Redis:
    return redis.Redis.from_url(acl_redis.server.url, username=person, password=people[person])


def _settings(acl_redis, people, person: str, **approvals):
    from agentconsole.config import Secret, Settings

    s = Settings()
    s.redis.url, s.redis.prefix = acl_redis.server.url, PREFIX
    s.redis.username, s.redis.password = person, Secret(people[person])
    s.operator.name, s.operator.role = person, PEOPLE[person]
    s.control.writes = "applier"
    s.control.applier_timeout_seconds = 10.0
    for key, value in approvals.items():
        setattr(s.approvals, key, value)
    return s


@pytest.fixture
async def applier(acl_redis):
    """A running applier with the admin credential (its own settings: the role table)."""
    made: list[Applier] = []

    async def start(kind: type[Applier] = Applier, run: bool = True, **approvals) -> Applier:
        s = acl_redis.settings("admin")
        s.control.operators = dict(PEOPLE)
        for key, value in approvals.items():
            setattr(s.approvals, key, value)
        plane = ControlPlane.from_settings(s, Operator("applier", "admin"))
        await plane.check_schema()
        applier = kind(plane, f"test-{uuid.uuid4().hex[:6]}")
        applier.task = asyncio.create_task(applier.run(block_ms=200)) if run else None
        made.append(applier)
        return applier

    yield start
    for a in made:
        a.stop()
        if a.task is not None:
            await asyncio.wait_for(a.task, 10)
        await a.plane.close()


@pytest.fixture
async def person(acl_redis, people):
    made: list[ControlPlane] = []

    async def make(name: str, **approvals) -> ControlPlane:
        s = _settings(acl_redis, people, name, **approvals)
        plane = ControlPlane.from_settings(s, Operator(name, PEOPLE[name]))
        await plane.check_schema()
        made.append(plane)
        return plane

    yield make
    for plane in made:
        await plane.close()


def _name(stem: str) -> str:
    return f"{stem}-{uuid.uuid4().hex[:6]}"


async def _audit_of(plane: ControlPlane, target: str) -> list:
    return [e for e in await plane.audit.tail(500) if e.target == target]


# --- what the applier does ------------------------------------------------------------------


async def test_a_change_through_the_applier_is_applied_once_as_its_sender(applier, person):
    await applier()
    alice = await person("alice")
    flag = _name("via-applier")
    admin_flag = await person("ada")
    await admin_flag.flags.create(flag)  # an admin person: flag.create is admin's
    before = await alice.version()
    flag_doc = await alice.flags.enable(flag, reason="through the applier")
    assert flag_doc.enabled
    assert await alice.version() == before + 1
    entries = await _audit_of(alice, flag)
    assert [(e.actor, e.role, e.action) for e in entries] == [
        ("ada", "admin", "flag.create"),
        ("alice", "responder", "flag.enable"),
    ]


async def test_drain_and_pause_go_through_the_applier_like_kills(applier, person):
    await applier()
    alice = await person("alice")
    tenant = _name("held")
    out = await alice.holds.hold("drain", tenant=tenant, reason="via the applier")
    assert out.created and out.hold["requester"] == "alice"
    await alice.holds.hold("pause", tenant=tenant)
    await alice.holds.lift("pause", f"tenant:{tenant}")
    holds, _ = await alice.holds.list()
    assert f"drain:tenant:{tenant}" in holds and f"pause:tenant:{tenant}" not in holds


async def test_the_requester_cannot_choose_the_actor_and_a_redelivery_is_one_change(
    acl_redis, people, applier, person
):
    app = await applier()
    alice_plane = await person("alice")
    await (await person("ada")).flags.create(flag := _name("actor"))
    alice = _raw(acl_redis, people, "alice")
    change_id = uuid.uuid4().hex
    doc = {"name": flag, "enabled": True, "type": "release", "rollout_bp": 10000}
    fields = {
        "change_id": change_id,
        "entity": "flag",
        "field": flag,
        "action": "flag.enable",
        "doc": json.dumps(doc),
        "expected": "1",
        "reason": "",
        "wait": "10",
        "actor": "bob",  # ignored: the stream says who
        "role": "admin",
    }
    alice.xadd(KEYS.requests("alice"), fields)
    alice.xadd(KEYS.requests("alice"), fields)  # sent twice (a lost reply)
    result = await _result(alice_plane, f"alice:{change_id}")
    assert result[0] in ("ok", "again")
    await _until(lambda: app.stats.applied >= 2)
    entries = await _audit_of(alice_plane, flag)
    assert [(e.actor, e.role, e.action) for e in entries][1:] == [
        ("alice", "responder", "flag.enable")
    ]


async def test_a_request_left_by_a_dead_applier_is_applied_once_by_the_other(
    acl_redis, people, applier, person, plane_for
):
    class DiesAfterApplying(Applier):
        async def _answer(self, *args) -> None:
            raise RuntimeError("killed after applying, before answering")

    dying = await applier(DiesAfterApplying, run=False)
    await dying.setup()
    alice_plane = await person("alice")
    await plane_for("admin").flags.create(flag := _name("takeover"))  # direct: a trusted admin
    change_id = uuid.uuid4().hex
    doc = {"name": flag, "enabled": True, "type": "release", "rollout_bp": 10000}
    _raw(acl_redis, people, "alice").xadd(
        KEYS.requests("alice"),
        {"change_id": change_id, "entity": "flag", "field": flag, "action": "flag.enable"}
        | {"doc": json.dumps(doc), "expected": "1", "wait": "60"},
    )
    with pytest.raises(RuntimeError, match="killed after applying"):
        await dying.poll(block_ms=5000)
    other = await applier()  # takes the unacknowledged request over once it is idle
    status, *_ = await _result(alice_plane, f"alice:{change_id}")
    assert status == "again"  # the change id: already applied, not applied twice
    assert other.stats.claimed >= 1
    actions = [e.action for e in await _audit_of(alice_plane, flag)]
    assert actions == ["flag.create", "flag.enable"]


async def test_a_request_the_applier_fails_on_is_answered_and_the_next_one_applied(
    acl_redis, people, applier, person, plane_for
):
    class Buggy(Applier):
        async def apply(self, actor, request):
            if request.reason == "poison":
                raise KeyError("a bug")
            return await super().apply(actor, request)

    app = await applier(Buggy)
    told: list[str] = []
    app.say = told.append
    alice = await person("alice")
    await plane_for("admin").flags.create(flag := _name("poison"))
    with pytest.raises(ControlError, match="not applied: the applier failed on it: KeyError"):
        await alice.flags.enable(flag, reason="poison")
    assert (await alice.flags.enable(flag, reason="fine")).enabled  # the loop goes on
    assert told and "KeyError" in told[0]


async def test_a_change_id_read_in_someone_elses_stream_answers_nothing_for_them(
    acl_redis, people, applier, person, plane_for
):
    """Every person reads every stream; alice copying bob's change id before the applier
    runs neither answers bob's wait nor makes his change 'already applied'."""
    await plane_for("admin").flags.create(flag := _name("spoof"))
    change_id = uuid.uuid4().hex
    doc = {"name": flag, "enabled": True, "type": "release", "rollout_bp": 10000}
    request = {"change_id": change_id, "entity": "flag", "field": flag, "action": "flag.enable"}
    request |= {"doc": json.dumps(doc), "expected": "1", "wait": "30"}
    _raw(acl_redis, people, "alice").xadd(KEYS.requests("alice"), request)  # alice first
    _raw(acl_redis, people, "bob").xadd(KEYS.requests("bob"), request)  # bob's own
    await applier()
    bob_plane = await person("bob")
    mine = await _result(bob_plane, f"bob:{change_id}")
    theirs = await _result(bob_plane, f"alice:{change_id}")
    assert theirs[0] == "ok" and mine[0] == "conflict"  # bob's CAS saw alice's version
    actors = [e.actor for e in await _audit_of(bob_plane, flag)]
    assert actors == ["admin-user", "alice"]


@pytest.mark.parametrize(
    ("fields", "why"),
    [
        (
            {"entity": "flag", "action": "flag.enable", "doc": {"name": "other", "enabled": True}},
            "own name",
        ),
        (
            {"entity": "flag", "action": "flag.enable", "doc": {"name": "F", "enabled": "yes"}},
            "true or false",
        ),
        ({"entity": "budget", "action": "kill.lift", "doc": {"run_max_steps": 1}}, "changes a"),
        ({"entity": "budget", "action": "budget.set", "doc": {"run_max_steps": 1}}, "admin"),
        ({"entity": "agent", "action": "agent.reap", "doc": {}}, "not a change"),
        ({"entity": "tenant_cap", "action": "budget.tenant", "doc": None}, "tenant cap is"),
        ({"entity": "flag", "action": "flag.delete", "doc": None}, "admin"),
        (
            {"entity": "kill", "action": "kill.all", "doc": {"target": "all", "scope": "god"}},
            "kill scope",
        ),
    ],
)
async def test_a_forged_request_is_refused_and_nothing_is_written(
    acl_redis, people, applier, person, fields, why
):
    await applier()
    alice_plane = await person("alice")
    alice = _raw(acl_redis, people, "alice")
    field = {"flag": "F", "budget": "limits", "tenant_cap": "limits"}.get(fields["entity"], "all")
    before = (await alice_plane.version(), await alice_plane.redis.xlen(KEYS.audit))
    change_id = uuid.uuid4().hex
    doc = fields["doc"]
    alice.xadd(
        KEYS.requests("alice"),
        {
            "change_id": change_id,
            "entity": fields["entity"],
            "field": field,
            "action": fields["action"],
            "doc": "" if doc is None else json.dumps(doc),
            "expected": "",
            "wait": "10",
        },
    )
    status, message, *_ = await _result(alice_plane, f"alice:{change_id}")
    assert status in ("refused", "invalid") and why in message, message
    assert (await alice_plane.version(), await alice_plane.redis.xlen(KEYS.audit)) == before


async def test_no_applier_running_is_a_clear_error_and_nothing_applies_later(
    acl_redis, people, person, applier
):
    alice = await person("alice")
    alice.settings.control.applier_timeout_seconds = 0.5
    with pytest.raises(
        NoApplier,
        match=r"no applier answered within 0.5 s: is `agentconsole applier` running, with alice",
    ):
        await alice.kills.kill(tenant="nobody-" + uuid.uuid4().hex[:4], reason="test")
    before = await alice.version()
    app = await applier()  # a late applier: the request expired, it is not applied
    await _until(lambda: app.stats.expired >= 1)
    assert await alice.version() == before


# --- four eyes, enforced by the applier --------------------------------------------------------


async def test_four_eyes_through_the_applier(acl_redis, people, applier, person):
    from agentconsole.control import approvals, operations

    policy = {"operations": ["kill.tenant"]}
    await applier(**policy)
    alice = await person("alice", **policy)
    bob = await person("bob", **policy)
    tenant = "t-" + uuid.uuid4().hex[:6]
    op = operations.get("kill.tenant")
    held = await op.run(alice, op.call({"tenant": tenant}, reason="runaway"))
    request_id = held.data["approval"]["id"]
    assert not held.data["applied"]
    with pytest.raises(PermissionDenied, match="different operator"):
        await approvals.approve(alice, request_id)  # self-approval: refused by the client ...
    outcome = await approvals.approve(bob, request_id, reason="agreed")
    assert "approved alice's request" in outcome.text
    kills, _ = await bob.kills.list()
    assert f"tenant:{tenant}" in kills
    # the approval names its target: bob cannot use it to kill another tenant
    with pytest.raises(PermissionDenied, match=f"is for kill tenant {tenant}, not a change"):
        call = op.call({"tenant": "someone-else"}, reason="while I am at it")
        call.approved = request_id
        await _carrying(op, bob, call)
    assert "tenant:someone-else" not in (await bob.kills.list())[0]
    entries = await bob.audit.tail(50)
    actions = [(e.actor, e.action) for e in entries if request_id in e.target + e.reason]
    assert ("alice", "approval.request") in actions and ("bob", "approval.approve") in actions


async def test_the_applier_enforces_four_eyes_for_a_client_that_skips_it(
    acl_redis, people, applier, person
):
    from agentconsole.control import approvals, operations

    policy = {"operations": ["kill.tenant"]}
    await applier(**policy)
    alice = await person("alice")  # her client has no approvals policy: it skips the gate
    tenant = "t-" + uuid.uuid4().hex[:6]
    with pytest.raises(PermissionDenied, match="needs a second operator"):
        await alice.kills.kill(tenant=tenant, reason="no one asked")
    # ... nor can she approve her own request with a client that skips that check
    op = operations.get("kill.tenant")
    gated = await person("alice", **policy)
    held = await op.run(gated, op.call({"tenant": tenant}, reason="runaway"))
    stored = await approvals.get(gated, held.data["approval"]["id"])
    decided = approvals._decided(gated, stored, approvals.APPROVED, "me")
    with pytest.raises(PermissionDenied, match="different operator"):
        await gated.apply(
            hash_key=KEYS.approvals,
            field=stored.id,
            entity="approval",
            action="approval.approve",
            new_doc=decided.doc(),
            expected_version=stored.version,
        )
    # ... nor file a request that claims to be approved already, nor carry it out herself
    forged = approvals.Request(**{**stored.__dict__, "id": "f" + stored.id[1:]})
    forged.status, forged.decided_by = approvals.APPROVED, "bob"
    with pytest.raises(PermissionDenied, match="a new request is pending"):
        await gated.apply(
            hash_key=KEYS.approvals,
            field=forged.id,
            entity="approval",
            action="approval.request",
            new_doc=forged.doc(),
            expected_version=None,
        )
    call = op.call({"tenant": tenant}, reason="runaway")
    call.approved = stored.id  # pending: not approved by anyone
    with pytest.raises(PermissionDenied, match="does not allow alice"):
        await _carrying(op, gated, call)
    assert f"tenant:{tenant}" not in (await gated.kills.list())[0]


async def _carrying(op, plane, call):
    from agentconsole.control import approvals

    with approvals.carrying(call):
        return await op.execute(plane, call)


# --- helpers ---------------------------------------------------------------------------------


async def _result(plane: ControlPlane, change_id: str) -> list:
    reply = await wait_for_result(plane, change_id, 30.0)
    assert reply is not None, "no answer from the applier"
    return reply


async def _until(condition, timeout: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


def test_every_action_has_a_decided_entity_or_is_not_a_request():
    """A new action in the roles table is refused by the applier until someone decides
    which document it writes (control/applier.py)."""
    from agentconsole.control.applier import NOT_REQUESTS, entity_of
    from agentconsole.control.roles import REQUIRED_ROLE

    undecided = {a for a in REQUIRED_ROLE if entity_of(a) is None} - NOT_REQUESTS
    assert not undecided


async def test_the_applier_refuses_an_expired_decision_and_allows_a_loud_override(applier, person):
    from agentconsole.control import approvals, operations

    policy = {"operations": ["kill.tenant"], "expiry_seconds": 0.3}
    await applier(**policy)
    alice = await person("alice", **policy)
    bob = await person("bob", **policy)
    op = operations.get("kill.tenant")
    tenant = "t-" + uuid.uuid4().hex[:6]
    held = await op.run(alice, op.call({"tenant": tenant}, reason="runaway"))
    stored = await approvals.get(bob, held.data["approval"]["id"])
    await asyncio.sleep(0.5)
    decided = approvals._decided(bob, stored, approvals.APPROVED, "late")
    with pytest.raises(PermissionDenied, match="expired"):  # bob's client skips its check
        await bob.apply(
            hash_key=KEYS.approvals,
            field=stored.id,
            entity="approval",
            action="approval.approve",
            new_doc=decided.doc(),
            expected_version=stored.version,
        )
    outcome = await op.run(alice, op.call({"tenant": tenant}, reason="fire", override=True))
    assert outcome.text.startswith("EMERGENCY OVERRIDE")
    assert f"tenant:{tenant}" in (await alice.kills.list())[0]
    entries = [(e.actor, e.action) for e in await alice.audit.tail(20)]
    assert ("alice", "approval.override") in entries and ("alice", "kill.tenant") in entries


async def test_the_applier_forgets_requests_decided_over_a_day_ago(applier, person):
    from agentconsole.control import approvals, operations

    policy = {"operations": ["kill.tenant"]}
    app = await applier(**policy)
    op = operations.get("kill.tenant")
    alice = await person("alice", **policy)
    ids = []
    for tenant in ("t-old-rejected", "t-pending"):
        held = await op.run(alice, op.call({"tenant": tenant + uuid.uuid4().hex[:4]}))
        ids.append(held.data["approval"]["id"])
    stored = await approvals.get(app.plane, ids[0])
    rejected = approvals._decided(app.plane, stored, approvals.REJECTED, "no")
    await app.plane.redis.hset(KEYS.approvals, stored.id, json.dumps(rejected.doc()))
    day_later = time.time() + 86400 + 3600
    assert await app.prune_approvals(now=time.time()) == 0  # decided just now: kept
    pruned = await app.prune_approvals(now=day_later)
    remaining = {r.id for r in (await approvals.list_requests(app.plane))[0]}
    assert pruned >= 2 and not set(ids) & remaining  # the pending one expired long ago too


async def test_an_unreadable_kill_is_lifted_through_the_applier(acl_redis, applier, person):
    """The applier carries the value's digest: a kill that does not parse (written by a
    buggy tool with the root credential) is lifted by a responder with no direct write."""
    await applier()
    alice = await person("alice")
    target = f"tenant:{_name('broken')}"
    with acl_redis.root() as root:
        root.hset(alice.keys.kills, target, "{not json")
    kills, _ = await alice.kills.list()
    assert codec.UNREADABLE in kills[target]
    await alice.kills.lift(target, reason="corrupt entry")
    assert target not in (await alice.kills.list())[0]
    entry = [e for e in await alice.audit.tail(50) if e.target == target][-1]
    assert entry.actor == "alice" and entry.before["unreadable"] == "not valid JSON"
