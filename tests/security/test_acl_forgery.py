"""Raw redis-py with an operator's or an agent's credential, trying to forge control state.

Applier mode (``control.writes: applier``) closes forgery: a person's Redis user may append
only to its own request stream, and every other write, script and function is refused by
Redis (the first tests). Direct mode is for trusted operators only, and what it cannot
refuse is asserted too, so that docs/security.md ("What each credential can still do")
stays true: Redis checks every command inside a script or function against the *caller's*
permissions, so the responder role that may change flags through ``apply_change`` may also
write the flags hash directly.
"""

from __future__ import annotations

import json

import pytest
import redis
from redis.exceptions import NoPermissionError, ResponseError

from agentconsole.control.acl import script_sha
from agentconsole.control.keys import Keys
from tests.security.conftest import PEOPLE, PREFIX

KEYS = Keys(PREFIX)
FORGED = json.dumps({"name": "bar-off", "enabled": True, "version": 99})


def _as(acl_redis, role: str) -> redis.Redis:
    return redis.Redis.from_url(
        acl_redis.server.url, username=f"ac-{role}", password=acl_redis.passwords[role]
    )


def _refused(call) -> None:
    with pytest.raises((NoPermissionError, ResponseError)) as info:
        call()
    text = str(info.value)
    assert (
        "NOPERM" in text or "no permissions" in text or "user executing the script can't" in text
    ), text


CONTROL_STATE = (KEYS.flags, KEYS.breakers, KEYS.kills, KEYS.holds, KEYS.budgets)
# every key that holds operator-controlled state
OPERATOR_STATE = (*CONTROL_STATE, KEYS.silences, KEYS.incidents, KEYS.approvals)


def _person(acl_redis, people, name: str) -> redis.Redis:
    assert name in PEOPLE
    return redis.Redis.from_url(acl_redis.server.url, username=name, password=people[name])


# --- applier mode: closed -------------------------------------------------------------------


def test_a_person_cannot_write_control_state_run_scripts_or_forge_the_audit(acl_redis, people):
    alice = _person(acl_redis, people, "alice")
    forge = "return redis.call('HSET', KEYS[1], 'bar-off', ARGV[1])"
    _refused(lambda: alice.eval(forge, 1, KEYS.flags, FORGED))
    _refused(lambda: alice.script_load(forge))
    sha = acl_redis.root().script_load(forge)  # even a script someone else loaded
    _refused(lambda: alice.evalsha(sha, 1, KEYS.flags, FORGED))
    _refused(lambda: alice.evalsha(script_sha("apply_change"), 0))  # ours neither
    for key in OPERATOR_STATE:
        _refused(lambda key=key: alice.hset(key, "bar-off", FORGED))
        _refused(lambda key=key: alice.hdel(key, "all"))
    for key in (KEYS.version, KEYS.schema, KEYS.epoch, KEYS.change("c1")):
        _refused(lambda key=key: alice.set(key, "1"))
    _refused(lambda: alice.xadd(KEYS.audit, {"actor": "bob", "action": "kill.lift"}))
    _refused(lambda: alice.xadd(KEYS.requests("bob"), {"action": "kill.lift"}))  # bob's
    _refused(lambda: alice.xadd(KEYS.change_result("c1"), {"status": "ok"}))
    _refused(lambda: alice.publish(KEYS.events, "{}"))
    library = "#!lua name=forge\nredis.register_function('f', function(k, a) return 1 end)"
    _refused(lambda: alice.execute_command("FUNCTION", "LOAD", library))
    _refused(lambda: alice.execute_command("FCALL", "f", 0))
    _refused(lambda: alice.execute_command("FCALL", "f", 1, KEYS.flags, FORGED))
    # what it may do: read, and append to its own stream (the applier decides the rest)
    assert alice.hgetall(KEYS.flags) is not None
    assert alice.xadd(KEYS.requests("alice"), {"hello": "1"})


def test_a_viewer_person_cannot_even_send_requests(acl_redis, people):
    vera = _person(acl_redis, people, "vera")
    _refused(lambda: vera.xadd(KEYS.requests("vera"), {"action": "kill.all"}))
    for key in OPERATOR_STATE:
        _refused(lambda key=key: vera.hset(key, "x", FORGED))


async def test_the_rollout_controller_user_holds_its_lease_and_status_and_nothing_more(
    acl_redis, people
):
    """In applier mode the controller is a person with two more keys: its lease (through
    redis-py's Lock scripts) and its status hash; its decisions go through the applier."""
    import redis.asyncio as aioredis

    from agentconsole.control.lease import Lease

    name = "rollout-controller"
    client = aioredis.Redis.from_url(acl_redis.server.url, username=name, password=people[name])
    try:
        lease = Lease(client, KEYS, 5.0)
        assert await lease.keep() and await lease.keep()  # take, then renew (Lock scripts)
        await lease.release()
        assert await client.hset(KEYS.rollout_status, "plan-x", "{}") == 1
        assert await client.xadd(KEYS.requests(name), {"hello": "1"})
    finally:
        await client.aclose()
    raw = _person(acl_redis, people, name)
    for key in OPERATOR_STATE:
        _refused(lambda key=key: raw.hset(key, "bar-off", FORGED))
    _refused(lambda: raw.xadd(KEYS.audit, {"actor": "alice", "action": "flag.enable"}))
    _refused(lambda: raw.eval("return 1", 0))
    _refused(lambda: raw.set(KEYS.version, 1))


# --- direct mode (trusted operators only) and the agent ---------------------------------------


@pytest.mark.parametrize("role", ["responder", "agent"])
def test_scripts_of_ones_own_are_refused(acl_redis, role):
    client = _as(acl_redis, role)
    forge = "return redis.call('HSET', KEYS[1], 'bar-off', ARGV[1])"
    _refused(lambda: client.eval(forge, 1, KEYS.flags, FORGED))
    sha = client.script_load(forge)  # loading is allowed (redis-py reloads ours) ...
    _refused(lambda: client.evalsha(sha, 1, KEYS.flags, FORGED))  # ... running it is not
    library = "#!lua name=forge\nredis.register_function('f', function(k, a) return 1 end)"
    _refused(lambda: client.execute_command("FUNCTION", "LOAD", library))
    _refused(lambda: client.execute_command("FCALL", "f", 0))
    _refused(lambda: client.execute_command("SCRIPT", "FLUSH"))


def test_responder_cannot_touch_budgets_schema_epoch_or_rewrite_the_audit(acl_redis):
    client = _as(acl_redis, "responder")
    _refused(lambda: client.hset(KEYS.budgets, "limits", json.dumps({"run_max_steps": 10**9})))
    _refused(lambda: client.set(KEYS.schema, 1))
    _refused(lambda: client.set(KEYS.epoch, "{}"))
    for rewrite in (
        lambda: client.delete(KEYS.audit),
        lambda: client.xtrim(KEYS.audit, maxlen=0),
        lambda: client.xdel(KEYS.audit, "0-1"),
    ):
        _refused(rewrite)
    # a budget change through our own script fails at its first write: nothing is written
    from agentconsole.control import lua

    acl_redis.root().script_load(lua.source("apply_change"))
    before = client.get(KEYS.version)
    args = ["limits", "cas", 0, FORGED, "mallory", "admin", "budget.set", "budget", "", "0"]
    args += [100, KEYS.events, "0", "c-forge", 60]
    keys = [KEYS.budgets, KEYS.audit, KEYS.version, KEYS.epoch, KEYS.reset_holders]
    _refused(lambda: client.evalsha(script_sha("apply_change"), 6, *keys, KEYS.change("x"), *args))
    assert client.get(KEYS.version) == before


def test_agent_cannot_change_controls_or_touch_the_audit(acl_redis):
    client = _as(acl_redis, "agent")
    for key in (*CONTROL_STATE, KEYS.silences, KEYS.incidents):
        _refused(lambda key=key: client.hset(key, "x", FORGED))
        _refused(lambda key=key: client.hdel(key, "all"))
    _refused(lambda: client.xadd(KEYS.audit, {"actor": "alice", "action": "kill.clear"}))
    _refused(lambda: client.xrange(KEYS.audit))
    _refused(lambda: client.set(KEYS.version, 0))
    _refused(lambda: client.evalsha(script_sha("apply_change"), 0))


def test_in_direct_mode_the_responder_can_still_write_raw_as_docs_security_says(acl_redis):
    """Not a wish: why direct mode is for trusted operators only (docs/security.md). Applier
    mode gives people no such credential (the tests above)."""
    client = _as(acl_redis, "responder")
    root = acl_redis.root()
    try:
        assert client.hset(KEYS.flags, "bar-off", FORGED) == 1  # no audit, no version bump
        assert client.xadd(KEYS.audit, {"actor": "alice", "action": "flag.enable"})
    finally:
        root.hdel(KEYS.flags, "bar-off")


@pytest.mark.parametrize(
    ("entity", "field", "doc"),
    [
        ("flag", "bar-off", {"name": "someone-else", "enabled": True}),
        ("flag", "bar-off", {"name": "bar-off", "enabled": "yes"}),
        ("flag", "bar-off", {"name": "bar-off", "rollout_bp": 99999}),
        ("flag", "bar-off", {"name": "bar-off", "type": "god-mode"}),
        ("breaker", "llm", {"dependency": "llm", "mode": "forced_half"}),
        ("kill", "all", {"target": "tenant:x", "scope": "tenant"}),
    ],
)
def test_our_script_refuses_a_forged_document(acl_redis, entity, field, doc):
    """Whoever calls apply_change (here raw redis-py as the responder), the document is
    checked inside the script with the operations table's rules, before anything is written."""
    from agentconsole.control import lua

    client = _as(acl_redis, "responder")
    acl_redis.root().script_load(lua.source("apply_change"))
    hash_key = {"flag": KEYS.flags, "breaker": KEYS.breakers, "kill": KEYS.kills}[entity]
    before = client.get(KEYS.version)
    keys = [hash_key, KEYS.audit, KEYS.version, KEYS.epoch, KEYS.reset_holders, KEYS.change("f")]
    args = [field, "if_absent", 0, json.dumps(doc), "mallory", "admin", f"{entity}.x", entity]
    args += ["", "0", 100, KEYS.events, "1", "f-" + field + str(len(doc)), 60]
    status, why = client.evalsha(script_sha("apply_change"), len(keys), *keys, *args)[:2]
    assert status == b"invalid" and why
    assert client.get(KEYS.version) == before and client.hget(hash_key, field) is None
