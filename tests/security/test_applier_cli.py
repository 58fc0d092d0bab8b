"""`agentconsole acl generate --people` and `agentconsole applier` as real commands."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
import redis
import yaml

from agentconsole.cli.main import main
from agentconsole.control.acl import person_password_env
from agentconsole.control.keys import Keys
from tests.security.conftest import PEOPLE, PREFIX

KEYS = Keys(PREFIX)


@pytest.fixture
def config(acl_redis, tmp_path, monkeypatch):
    """A config file with the people's table; the environment holds no credential yet."""
    path = tmp_path / "agentconsole.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "redis": {"url": acl_redis.server.url, "prefix": PREFIX},
                "control": {"operators": dict(PEOPLE)},
            }
        )
    )
    monkeypatch.setenv("AGENTCONSOLE_CONFIG", str(path))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    for var in ("AGENTCONSOLE_REDIS_USERNAME", "AGENTCONSOLE_REDIS_PASSWORD", "AGENTCONSOLE_ROLE"):
        monkeypatch.delenv(var, raising=False)
    return path


def test_generate_people_prints_one_request_only_user_each(config, monkeypatch, capsys):
    monkeypatch.setenv(person_password_env("alice"), "alice-secret-value")
    assert main(["acl", "generate", "--people", "--role", "admin"]) == 0
    captured = capsys.readouterr()
    lines = {line.split()[2]: line for line in captured.out.splitlines()}
    assert set(lines) == {"ac-admin", *PEOPLE}
    assert "alice-secret-value" not in captured.out + captured.err
    assert " on #" in lines["alice"] and " off " in lines["bob"]  # bob has no password set
    assert f'"(-@all +xadd %W~{KEYS.requests("alice")})"' in lines["alice"]
    assert "xadd" not in lines["vera"] and "evalsha" not in lines["alice"]
    assert "bob (responder) user is created disabled" in captured.err


def test_generate_people_with_nobody_listed_is_a_usage_error(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("AGENTCONSOLE_CONFIG", str(tmp_path / "none.yaml"))
    (tmp_path / "none.yaml").write_text("redis: {prefix: x}\n")
    assert main(["acl", "generate", "--people"]) == 2
    assert "control.operators lists nobody" in capsys.readouterr().err


def test_the_applier_needs_the_people_and_the_admin_role(config, monkeypatch, capsys):
    monkeypatch.setenv("AGENTCONSOLE_ROLE", "responder")
    assert main(["applier", "--seconds", "1"]) == 2
    assert "needs the admin credential" in capsys.readouterr().err
    config.write_text(yaml.safe_dump({"redis": {"prefix": PREFIX}}))
    monkeypatch.setenv("AGENTCONSOLE_ROLE", "admin")
    assert main(["applier", "--seconds", "1"]) == 2
    assert "control.operators is empty" in capsys.readouterr().err


def test_a_cli_kill_as_a_person_goes_through_a_running_applier(
    acl_redis, people, config, monkeypatch, capsys
):
    env = dict(os.environ)
    env.update(
        AGENTCONSOLE_REDIS_USERNAME="ac-admin",
        AGENTCONSOLE_REDIS_PASSWORD=acl_redis.passwords["admin"],
        AGENTCONSOLE_ROLE="admin",
    )
    applier = subprocess.Popen(
        [sys.executable, "-m", "agentconsole", "applier", "--name", "cli-test"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    try:
        assert applier.stdout is not None and " applier cli-test " in applier.stdout.readline()
        monkeypatch.setenv("AGENTCONSOLE_CONTROL_WRITES", "applier")
        monkeypatch.setenv("AGENTCONSOLE_REDIS_USERNAME", "alice")
        monkeypatch.setenv("AGENTCONSOLE_REDIS_PASSWORD", people["alice"])
        monkeypatch.setenv("AGENTCONSOLE_OPERATOR", "alice")
        monkeypatch.setenv("AGENTCONSOLE_ROLE", "admin")  # claims admin: the applier knows
        assert main(["status"]) == 0, capsys.readouterr().err
        out = capsys.readouterr().out
        assert "writes:        through the applier as alice: 1 running (cli-test" in out
        tenant = f"cli-{time.time_ns()}"
        args = ["agents", "kill", "--tenant", tenant, "--wait", "0", "--yes", "--reason", "cli"]
        assert main(args) == 0, capsys.readouterr().err
        assert main(["budgets", "set", "request_tokens", "1"]) == 1
        err = capsys.readouterr().err
        assert "refused by the applier" in err and "needs the admin role; alice is responder" in err
    finally:
        applier.send_signal(signal.SIGTERM)
        _, stopped = applier.communicate(timeout=30)
    assert applier.returncode == 0 and "applier stopped: 1 applied, 1 refused" in stopped
    with redis.Redis.from_url(acl_redis.server.url) as root:
        entries = [fields for _, fields in root.xrange(KEYS.audit)]
    mine = [e for e in entries if e[b"target"] == f"tenant:{tenant}".encode()]
    assert [(e[b"actor"], e[b"role"], e[b"action"]) for e in mine] == [
        (b"alice", b"responder", b"kill.tenant")
    ]


def _applier_env(acl_redis) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        AGENTCONSOLE_REDIS_USERNAME="ac-admin",
        AGENTCONSOLE_REDIS_PASSWORD=acl_redis.passwords["admin"],
        AGENTCONSOLE_ROLE="admin",
    )
    return env


def _as_person(monkeypatch, people, name: str, role: str) -> None:
    monkeypatch.setenv("AGENTCONSOLE_CONTROL_WRITES", "applier")
    monkeypatch.setenv("AGENTCONSOLE_REDIS_USERNAME", name)
    monkeypatch.setenv("AGENTCONSOLE_REDIS_PASSWORD", people[name])
    monkeypatch.setenv("AGENTCONSOLE_OPERATOR", name)
    monkeypatch.setenv("AGENTCONSOLE_ROLE", role)


def test_sighup_rereads_the_people_and_a_bad_config_changes_nothing(
    acl_redis, people, config, monkeypatch, capsys
):
    """A person added to control.operators is served after SIGHUP, without a restart; a
    config broken meanwhile is refused with a message and the people stay as they were."""
    without_bob = {p: r for p, r in PEOPLE.items() if p != "bob"}
    base = {"redis": {"url": acl_redis.server.url, "prefix": PREFIX}}
    config.write_text(yaml.safe_dump({**base, "control": {"operators": without_bob}}))
    applier = subprocess.Popen(
        [sys.executable, "-m", "agentconsole", "applier", "--name", "hup-test"],
        env=_applier_env(acl_redis),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    assert applier.stdout is not None
    try:
        assert " applier hup-test " in applier.stdout.readline()
        config.write_text(yaml.safe_dump({**base, "control": {"operators": dict(PEOPLE)}}))
        applier.send_signal(signal.SIGHUP)
        assert "people reloaded: added bob (responder)" in applier.stdout.readline()
        _as_person(monkeypatch, people, "bob", "responder")
        tenant = f"hup-{time.time_ns()}"
        kill = ["agents", "kill", "--tenant", tenant, "--wait", "0", "--yes", "--reason", "hup"]
        assert main(kill) == 0, capsys.readouterr().err
        config.write_text("control: {operators: {bob: emperor}}\n")
        applier.send_signal(signal.SIGHUP)
        line = applier.stdout.readline()
        assert "reload refused, the people stay as they were" in line and "emperor" in line
        config.write_text(yaml.safe_dump({**base}))  # bob's own CLI reads this file too
        kill[3] = f"{tenant}-2"
        assert main(kill) == 0, capsys.readouterr().err  # the applier still serves bob
    finally:
        applier.send_signal(signal.SIGTERM)
        _, stopped = applier.communicate(timeout=30)
    assert applier.returncode == 0 and "applier stopped: 2 applied" in stopped
    assert "Traceback" not in stopped


def test_status_in_applier_mode_says_when_no_applier_runs(people, config, monkeypatch, capsys):
    monkeypatch.setenv("AGENTCONSOLE_CONTROL_WRITES", "applier")
    monkeypatch.setenv("AGENTCONSOLE_REDIS_USERNAME", "bob")
    monkeypatch.setenv("AGENTCONSOLE_REDIS_PASSWORD", people["bob"])
    monkeypatch.setenv("AGENTCONSOLE_OPERATOR", "bob")
    monkeypatch.setenv("AGENTCONSOLE_ROLE", "responder")
    assert main(["status"]) == 1
    out = capsys.readouterr().out
    assert "through the applier as bob: 0 running (NONE)" in out
    assert "no applier seen in the last 5 s: every change fails" in out


def test_an_admin_person_on_a_fresh_redis_starts_without_writing(
    acl_redis, people, config, monkeypatch, capsys
):
    """Before any applier ran: nothing stamped yet, and the person may not stamp it."""
    with redis.Redis.from_url(acl_redis.server.url) as root:
        saved = {k: root.dump(k) for k in (KEYS.epoch, KEYS.registry_partitions)}
        root.delete(*saved)
        try:
            monkeypatch.setenv("AGENTCONSOLE_CONTROL_WRITES", "applier")
            monkeypatch.setenv("AGENTCONSOLE_REDIS_USERNAME", "ada")
            monkeypatch.setenv("AGENTCONSOLE_REDIS_PASSWORD", people["ada"])
            monkeypatch.setenv("AGENTCONSOLE_OPERATOR", "ada")
            monkeypatch.setenv("AGENTCONSOLE_ROLE", "admin")
            assert main(["flags", "list"]) == 0, capsys.readouterr().err
            assert root.get(KEYS.epoch) is None  # not stamped by the person
        finally:
            for key, value in saved.items():
                if value is not None:
                    root.restore(key, 0, value, replace=True)
