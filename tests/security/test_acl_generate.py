"""`acl generate`: rules follow the key schema and the prefix, and never print a password."""

from __future__ import annotations

import fnmatch
import hashlib
import inspect
import shlex

import pytest

from agentconsole.cli.main import main
from agentconsole.control.acl import PASSWORD_ENV, ROLES, generate, policies
from agentconsole.control.keys import Keys

# Which roles may write each key the schema builds. A new Keys builder fails this test until
# someone decides who may write it (and adds it to control/acl.py if anyone below admin may).
WRITERS: dict[str, set[str]] = {
    "schema": {"admin"},
    "epoch": {"admin"},
    "change": {"admin", "responder"},
    "approvals": {
        "admin",
        "responder",
    },  # four-eyes requests (apply_change)  # the id of an applied change (apply_change)
    "reset_holders": {"admin", "agent"},
    # applier mode: each person appends to its own (acl.person_policy, not a role's)
    "requests": {"admin"},
    "change_result": {"admin"},  # the applier's answers
    "appliers": {"admin"},  # the running appliers' beats  # agents report holding their snapshot
    "version": {"admin", "responder"},
    "flags": {"admin", "responder"},
    "breakers": {"admin", "responder"},
    "kills": {"admin", "responder"},
    "holds": {"admin", "responder"},  # drains and pauses, like kills
    "budgets": {"admin"},
    "silences": {"admin", "responder"},
    "breaker_state": {"admin", "agent"},
    "breaker_window": {"admin", "agent"},
    "registry_partitions": {"admin"},
    "legacy_agent": {"admin"},  # only `agents upgrade` (an admin) moves the v1 layout
    "legacy_indexes": {"admin"},
    # every key of a registry partition: responder reaps dead agents
    "agent": {"admin", "agent", "responder"},
    "partition_for": {"admin", "agent", "responder"},
    "partition": {"admin", "agent", "responder"},
    "usage": {"admin", "agent"},
    "reservations": {"admin", "agent"},
    "audit": {"admin", "responder"},  # responder: XADD only (see test_audit_is_append_only)
    "incident": {"admin", "responder"},
    "incidents": {"admin", "responder"},
    "rollout_lease": {"admin", "responder"},  # the rollout controller runs as a responder
    "rollout_status": {"admin", "responder"},
}
CHANNELS = {"events"}


def _builders(keys: Keys) -> dict[str, str]:
    out = {}
    for name, member in inspect.getmembers(type(keys)):
        if name.startswith("_") or name in ("tag", "prefix"):
            continue
        if name in ("registry_pattern", "partition_of", "all_partitions", "partitions"):
            continue
        if isinstance(member, property):
            out[name] = getattr(keys, name)
        elif inspect.isfunction(member):
            out[name] = getattr(keys, name)("x1")
    for name in ("partition_for", "partition"):  # one key of each kind of a partition
        part = out.pop(name)
        for member_name, member in inspect.getmembers(type(part)):
            if isinstance(member, property):
                out[f"{name}.{member_name}"] = getattr(part, member_name)
            elif inspect.isfunction(member) and not member_name.startswith("_"):
                out[f"{name}.{member_name}"] = getattr(part, member_name)("x1")
    legacy = out.pop("legacy_indexes")
    out.update({f"legacy_indexes.{i}": key for i, key in enumerate(legacy)})
    return out


def _writers(keys: Keys, key: str) -> set[str]:
    found = set()
    for role, policy in policies(keys).items():
        for grant in (policy.root, *policy.selectors):
            if any(c.startswith("evalsha") for c in grant.commands):
                continue  # naming keys for EVALSHA grants nothing by itself
            for rule in grant.keys:
                if rule.startswith("%R~"):
                    continue
                pattern = rule.split("~", 1)[1]
                if fnmatch.fnmatchcase(key, pattern):
                    found.add(role)
    return found


@pytest.mark.parametrize("prefix", ["ac", "prod-eu"])
def test_every_key_builder_has_a_decided_set_of_writers(prefix):
    keys = Keys(prefix)
    builders = _builders(keys)
    decided = lambda name: name.split(".")[0]  # noqa: E731
    unknown = {decided(n) for n in builders} - set(WRITERS) - CHANNELS
    assert not unknown, f"new Keys builders without an ACL decision: {sorted(unknown)}"
    for name, key in builders.items():
        if name in CHANNELS:
            continue
        assert _writers(keys, key) == WRITERS[decided(name)], name


def test_audit_is_append_only_for_the_responder():
    keys = Keys("ac")
    responder = policies(keys)["responder"]
    grants = [
        g
        for g in (responder.root, *responder.selectors)
        if not any(c.startswith("evalsha") for c in g.commands)
    ]
    on_audit = [g for g in grants if any(r.endswith(f"~{keys.audit}") for r in g.keys)]
    assert [g.commands for g in on_audit] == [("xadd",)]
    assert all(not r.startswith("~") for g in on_audit for r in g.keys)  # %W~, not RW


def test_viewer_has_no_write_or_script_command():
    viewer = policies(Keys("ac"))["viewer"]
    assert not viewer.selectors
    forbidden = {"eval", "evalsha", "fcall", "publish", "hset", "xadd", "del", "set", "script|load"}
    assert not forbidden & set(viewer.root.commands)
    assert viewer.root.keys == ("%R~{ac}:*", "%R~{ac:agents:*}:*")


def test_rules_follow_the_prefix():
    text = "\n".join(generate(Keys("prod-eu"), env={}).lines)
    assert "{prod-eu}:" in text and "{ac}:" not in text
    assert "~*" not in text.replace("{prod-eu}:*", "")  # nothing outside the prefix


def test_passwords_only_as_hashes_and_missing_ones_disable_the_user():
    env = {PASSWORD_ENV.format(role="VIEWER"): "hunter2-unique-value"}
    out = generate(Keys("ac"), env=env)
    text = "\n".join(out.lines + out.notes)
    assert "hunter2-unique-value" not in text
    digest = hashlib.sha256(b"hunter2-unique-value").hexdigest()
    viewer_line = next(line for line in out.lines if " ac-viewer " in line)
    assert f"on #{digest}" in viewer_line
    for role in ("responder", "admin", "agent"):
        line = next(line for line in out.lines if f" ac-{role} " in line)
        assert " reset off " in line and "nopass" not in line and ">" not in line


def test_setuser_lines_are_valid_redis_commands():
    for line in generate(Keys("ac"), env={}, nopass=True).lines:
        args = shlex.split(line)
        assert args[:2] == ["ACL", "SETUSER"]
        assert all(a.count("(") == a.count(")") for a in args)


def test_cli_generate(capsys, monkeypatch):
    monkeypatch.setenv(PASSWORD_ENV.format(role="AGENT"), "agent-secret-xyz")
    code = main(
        ["acl", "generate", "--format", "aclfile", "--prefix", "p1", "--user", "agent=fleet"]
    )
    out, err = capsys.readouterr()
    assert code == 0
    assert "user fleet reset on #" in out and "agent-secret-xyz" not in out + err
    assert out.splitlines()[-1].startswith("user default off")
    assert len(out.splitlines()) == len(ROLES) + 1
    assert "created disabled" in err


@pytest.mark.parametrize(
    "argv",
    [
        ["acl", "generate", "--prefix", "a:b"],
        ["acl", "generate", "--prefix", "{x}"],
        ["acl", "generate", "--user", "root=x"],
        ["acl", "generate", "--user", "viewer"],
    ],
)
def test_cli_generate_bad_input_is_one_line(capsys, argv):
    assert main(argv) == 2
    _, err = capsys.readouterr()
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_cli_generate_json(capsys):
    import json

    assert main(["acl", "generate", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["role"] for r in rows] == list(ROLES)
    assert all(g["why"] for r in rows for g in r["grants"])


def _s(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def test_aclfile_loads_into_redis_server(tmp_path):
    """The aclfile output plus a superuser line is accepted by a real redis-server."""
    import redis

    from tests.fixtures.redis import start_redis

    out = generate(Keys("ac"), fmt="aclfile", env={PASSWORD_ENV.format(role="VIEWER"): "v-pw"})
    path = tmp_path / "users.acl"
    path.write_text("\n".join(["user root on >root-pw ~* &* +@all", *out.lines]) + "\n")
    for server in start_redis(["--aclfile", str(path)]):
        with redis.Redis.from_url(server.url, username="root", password="root-pw") as r:
            users = {_s(u) for u in r.acl_users()}
            assert {"root", "default", *(f"ac-{role}" for role in ROLES)} <= users
            assert "off" in r.acl_getuser("default")["flags"]
        with redis.Redis.from_url(server.url, username="ac-viewer", password="v-pw") as r:
            assert _s(r.acl_whoami()) == "ac-viewer"
            assert r.get("{ac}:version") is None


def test_generating_the_responder_says_it_can_write_directly():
    """The shared responder user is direct mode's: whoever generates it is told so, and where
    the credentials that cannot forge state come from."""
    with_responder = generate(Keys("ac"), env={})
    assert any("trusted operators only" in n and "--people" in n for n in with_responder.notes)
    viewers_only = generate(Keys("ac"), env={}, roles=("viewer",))
    assert not any("trusted operators only" in n for n in viewers_only.notes)
