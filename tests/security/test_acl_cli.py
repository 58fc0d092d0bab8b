"""The CLI as each Redis user: clear "not permitted" lines, and the audit tamper check."""

from __future__ import annotations

import pytest

from agentconsole.cli.main import main


@pytest.fixture(autouse=True)
def clean_prefix(acl_redis):
    """Each test starts from an empty control plane (the module shares one redis-server)."""
    with acl_redis.root() as r:
        for key in r.scan_iter(match="{sec}:*"):
            r.delete(key)
        r.set("{sec}:schema", 1)


@pytest.fixture
def as_user(acl_redis, monkeypatch, tmp_path):
    """Point the CLI's environment at the ACL'd Redis as one role's Redis user."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    monkeypatch.delenv("AGENTCONSOLE_CONFIG", raising=False)

    def use(role: str, claimed_role: str | None = None) -> None:
        monkeypatch.setenv("AGENTCONSOLE_REDIS_URL", acl_redis.server.url)
        monkeypatch.setenv("AGENTCONSOLE_REDIS_PREFIX", acl_redis.prefix)
        monkeypatch.setenv("AGENTCONSOLE_REDIS_USERNAME", f"ac-{role}")
        monkeypatch.setenv("AGENTCONSOLE_REDIS_PASSWORD", acl_redis.passwords[role])
        monkeypatch.setenv("AGENTCONSOLE_ROLE", claimed_role or role)
        monkeypatch.setenv("AGENTCONSOLE_OPERATOR", f"{role}-cli")

    return use


def _one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_viewer_kill_from_cli_is_refused_by_redis(as_user, capsys):
    as_user("viewer", claimed_role="admin")  # a viewer who edited their config file
    assert main(["agents", "kill", "--all", "--yes", "--reason", "x"]) == 1
    line = _one_line(capsys.readouterr().err)
    assert "not permitted" in line


def test_responder_budget_change_from_cli_is_refused(as_user, capsys):
    as_user("responder", claimed_role="admin")
    assert main(["budgets", "set", "request_tokens", "1"]) == 1
    assert "not permitted" in _one_line(capsys.readouterr().err)


def test_whoami(as_user, capsys):
    as_user("viewer")
    assert main(["acl", "whoami"]) == 0
    assert "Redis user ac-viewer" in capsys.readouterr().out


def test_verify_audit_intact_then_trimmed_by_a_responder(as_user, acl_redis, capsys):
    as_user("admin")
    assert main(["flags", "create", "f1", "--reason", "setup"]) == 0
    as_user("responder")
    assert main(["flags", "enable", "f1", "--reason", "go"]) == 0
    capsys.readouterr()
    as_user("viewer")  # anyone who can read can check
    assert main(["acl", "verify-audit"]) == 0
    assert "intact" in capsys.readouterr().out

    # What a responder credential *can* do: append with MAXLEN 0, wiping older entries.
    import redis

    with redis.Redis.from_url(
        acl_redis.server.url, username="ac-responder", password=acl_redis.passwords["responder"]
    ) as r:
        r.xadd("{sec}:audit", {"actor": "nobody"}, maxlen=0, approximate=False)
    assert main(["acl", "verify-audit", "--json"]) == 1
    out = capsys.readouterr().out
    assert '"ok": false' in out and "3 entries were removed" in out  # MAXLEN 0 takes its own too


def test_verify_audit_detects_xdel_by_an_admin(as_user, capsys):
    import asyncio

    as_user("admin")
    for name in ("a1", "a2", "a3"):
        assert main(["flags", "create", name]) == 0
    capsys.readouterr()

    async def delete_middle() -> None:
        from agentconsole.config import load_settings
        from agentconsole.control import ControlPlane

        cp = ControlPlane.from_settings(load_settings())
        try:
            rows = await cp.redis.xrange(cp.keys.audit)
            await cp.redis.xdel(cp.keys.audit, rows[1][0])
        finally:
            await cp.close()

    asyncio.run(delete_middle())
    assert main(["acl", "verify-audit"]) == 1
    out = capsys.readouterr().out
    assert "XDEL" in out and "1 entries were removed" in out


def test_verify_audit_detects_a_recreated_stream(as_user, acl_redis, capsys):
    as_user("admin")
    for name in ("r1", "r2"):
        assert main(["flags", "create", name]) == 0
    with acl_redis.root() as r:
        r.delete("{sec}:audit")
    assert main(["flags", "create", "r3"]) == 0
    capsys.readouterr()
    assert main(["acl", "verify-audit"]) == 1
    assert "deleted and started again" in capsys.readouterr().out


def test_reaping_keeps_the_audit_intact(as_user, acl_redis, capsys):
    """Reaping writes its audit entry without a version bump: not a false alarm."""
    as_user("admin")
    assert main(["flags", "create", "before-reap"]) == 0
    with acl_redis.root() as r:
        r.hset("{sec}:agent:gone", mapping={"task": "old", "status": "running"})
        r.zadd("{sec}:agents:heartbeat", {"gone": 1.0})
    as_user("responder")
    assert main(["agents", "reap", "--reason", "cleanup"]) == 0
    capsys.readouterr()
    assert main(["acl", "verify-audit"]) == 0
    assert "intact" in capsys.readouterr().out


def test_verify_audit_on_empty_control_plane(as_user, capsys):
    as_user("viewer")
    assert main(["acl", "verify-audit"]) == 0
    assert "0 entries" in capsys.readouterr().out
