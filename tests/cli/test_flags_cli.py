"""`agentconsole flags ...` against a real Redis: round trip, CAS, roles, bad input."""

from __future__ import annotations

import pytest

from tests.cli.conftest import assert_one_line


def test_round_trip(cli):
    r = cli("flags", "create", "new-planner", "--description", "plans", "--reason", "ticket-1")
    assert r.code == 0 and "created" in r.out
    assert cli("flags", "enable", "new-planner", "--reason", "go").code == 0
    r = cli("flags", "rollout", "new-planner", "12.5%")
    assert r.code == 0 and "12.5%" in r.out
    r = cli("flags", "update", "new-planner", "--allow", "u1, u2", "--deny", "u3", "--owner", "bob")
    assert r.code == 0
    shown = cli("--json", "flags", "show", "new-planner").json()
    assert shown["enabled"] is True and shown["rollout_bp"] == 1250
    assert shown["allow"] == ["u1", "u2"] and shown["deny"] == ["u3"]
    assert shown["owner"] == "bob" and shown["version"] == 4 and shown["changed_by"] == "alice"
    listed = cli("flags", "list", "--json").json()  # --json after the subcommand too
    assert [f["name"] for f in listed["flags"]] == ["new-planner"] and listed["problems"] == []
    human = cli("flags", "list").out
    assert human.splitlines()[0].startswith("NAME") and "12.5%" in human
    assert "plans" in cli("flags", "show", "new-planner").out
    r = cli("flags", "disable", "new-planner")  # not a kill-switch: no question asked
    assert r.code == 0 and "off" in r.out
    r = cli("flags", "delete", "new-planner", "--yes", "--reason", "done")
    assert r.code == 0
    assert cli("flags", "list", "--json").json()["flags"] == []
    actions = [e["action"] for e in cli("audit", "tail", "--json").json()["entries"]]
    assert actions == [
        "flag.create",
        "flag.enable",
        "flag.rollout",
        "flag.update",
        "flag.disable",
        "flag.delete",
    ]


def test_create_options(cli):
    r = cli(
        "--json",
        "flags",
        "create",
        "exp",
        "--type",
        "experiment",
        "--enabled",
        "--rollout",
        "0.25",
        "--stickiness",
        "tenant",
        "--group",
        "g1",
        "--default",
        "on",
    )
    doc = r.json()
    assert (doc["type"], doc["enabled"], doc["rollout_bp"]) == ("experiment", True, 25)
    assert (doc["stickiness"], doc["group"], doc["default"]) == ("tenant", "g1", True)
    r = cli("flags", "create", "exp")
    assert r.code == 1 and "already exists" in r.err
    assert_one_line(r)


def test_kill_switch_disable_asks_and_refuses_without_yes(cli):
    cli("flags", "create", "tools", "--type", "kill-switch", "--enabled")
    r = cli("flags", "disable", "tools")  # stdin is not a terminal under pytest
    assert r.code == 1 and "--yes" in r.err
    assert_one_line(r)
    assert cli("--json", "flags", "show", "tools").json()["enabled"] is True
    r = cli("flags", "disable", "tools", "--yes", "--reason", "tool abuse")
    assert r.code == 0
    assert cli("--json", "flags", "show", "tools").json()["enabled"] is False


def test_stale_version_is_a_conflict_showing_the_current_value(cli):
    cli("flags", "create", "f")
    cli("flags", "rollout", "f", "40", "--expect-version", "1")
    r = cli("flags", "enable", "f", "--expect-version", "1")
    assert r.code == 1
    assert_one_line(r)
    assert "current value" in r.err and '"rollout_bp": 4000' in r.err and "version 2" in r.err
    assert cli("--json", "flags", "show", "f").json()["enabled"] is False


@pytest.mark.parametrize("bad", ["101", "-1", "abc", "12.345"])
def test_bad_rollout(cli, bad):
    cli("flags", "create", "f")
    r = cli("flags", "rollout", "f", bad)
    assert r.code == 2 and "percent" in r.err  # the grammar refuses: a usage error
    assert_one_line(r)


def test_unknown_flag(cli):
    for argv in (("show", "nope"), ("enable", "nope"), ("rollout", "nope", "5")):
        r = cli("flags", *argv)
        assert r.code == 1 and "no flag named 'nope'" in r.err
        assert_one_line(r)


def test_bad_names_and_usage(cli):
    r = cli("flags", "create", "bad name!")  # the grammar refuses: a usage error
    assert r.code == 2 and "invalid flag 'bad name!'" in r.err
    r = cli("flags", "create", "x", "--type", "nonsense")
    assert r.code == 2 and "type must be one of release, experiment" in r.err
    assert_one_line(r)
    cli("flags", "create", "x")
    r = cli("flags", "update", "x")
    assert r.code == 2 and "nothing to update" in r.err


def test_roles(cli):
    cli("flags", "create", "f")
    r = cli("flags", "enable", "f", role="viewer")
    assert r.code == 1 and "needs the responder role" in r.err
    assert_one_line(r)
    assert cli("flags", "list", role="viewer").code == 0
    assert cli("flags", "enable", "f", role="responder").code == 0
    r = cli("flags", "create", "g", role="responder")
    assert r.code == 1 and "needs the admin role" in r.err


def test_non_utf8_value_in_redis(cli, settings):
    import redis

    client = redis.Redis.from_url(settings.redis.url)
    try:
        from agentconsole.control.keys import Keys

        client.hset(Keys(settings.redis.prefix).flags, "broken", b"\xff\xfe{")
    finally:
        client.close()
    cli("flags", "create", "good")
    r = cli("flags", "list")
    assert r.code == 0 and "good" in r.out and "UTF-8" in r.err
    r = cli("flags", "show", "broken")
    assert r.code == 1 and "not valid UTF-8" in r.err
    assert_one_line(r)


def test_eval_matches_the_flag_rule(cli):
    from agentconsole.control.flags import Flag

    cli("flags", "create", "exp", "--enabled", "--rollout", "30")
    cli("flags", "update", "exp", "--allow", "vip", "--deny", "banned")
    keys = ["vip", "banned", *(f"user-{i}" for i in range(40))]
    data = cli("--json", "flags", "eval", "exp", *keys).json()
    flag = Flag.from_doc(cli("--json", "flags", "show", "exp").json())
    assert [r["on"] for r in data["results"]] == [flag.evaluate(k) for k in keys]
    assert data["results"][0]["why"] == "allow list" and data["results"][1]["why"] == "deny list"
    assert 0 < sum(r["on"] for r in data["results"][2:]) < 40
    cli("flags", "disable", "exp")
    out = cli("flags", "eval", "exp", "vip").out
    assert "off" in out and "flag is off" in out
