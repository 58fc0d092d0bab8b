"""`agentconsole status`, exit codes, and failing fast when Redis is gone or silent."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from agentconsole.control.registry import AgentRecord
from tests.cli.conftest import assert_one_line
from tests.fixtures.procs import free_port

AGENTCONSOLE = str(Path(sys.executable).with_name("agentconsole"))


async def test_status_reports_what_is_in_force(plane, acli):
    await plane.flags.create("ks", type="kill-switch")
    await plane.breakers.trip("openai", for_seconds=60)
    await plane.agents.register(AgentRecord(id="a1", tenant="acme"))
    await plane.kills.kill(tenant="acme")
    version = await plane.version()
    r = await acli("--json", "status")
    assert r.code == 0, r.err
    d = r.json()
    assert d["redis"]["reachable"] and d["schema"] == {
        "stored": "1",
        "understood": 1,
        "ok": True,
        "problem": None,
    }
    assert d["control_plane_version"] == version == 3
    assert d["agents"] == {
        "registered": 1,
        "live": 1,
        "at_latest_version": 0,
        "partitions": 16,
    }
    assert d["flags"]["kill_switches_engaged"] == 1
    assert d["breakers"] == {"total": 1, "open": 1, "operator_override": 1}
    assert d["kills"] == {"in_force": 1, "targets": ["tenant:acme"], "unreadable": []}
    assert d["operator"]["name"] == "alice" and d["operator"]["role"] == "admin"
    human = (await acli("status", role="viewer")).out
    assert "reachable" in human and "alice (viewer" in human and "tenant:acme" in human


async def test_status_points_at_the_upgrade_of_a_v1_registry(plane, acli):
    await plane.redis.hset(plane.keys.legacy_agent("old"), mapping={"id": "old", "tenant": "t"})
    await plane.redis.zadd(plane.keys.legacy_indexes[0], {"old": 1.0})
    r = await acli("status")
    assert r.code == 1 and "run `agentconsole agents upgrade`" in r.out
    r = await acli("agents", "upgrade", "--reason", "v2")
    assert r.code == 0 and "moved 1 agent from the v1 registry into 16 partitions" in r.out
    assert (await acli("status")).code == 0
    assert (await plane.agents.get("old")).tenant == "t"


async def test_schema_from_the_future_is_a_clear_error(plane, acli):
    await plane.redis.set(plane.keys.schema, 99)
    r = await acli("flags", "list")
    assert r.code == 1 and "schema v99" in r.err and "upgrade agentconsole" in r.err
    assert_one_line(r)
    r = await acli("status")
    assert r.code == 1 and "PROBLEM" in r.out and "v99" in r.out
    await plane.redis.set(plane.keys.schema, b"\xff\xfe")
    r = await acli("flags", "list")
    assert r.code == 1 and "schema version" in r.err


@pytest.fixture
def black_hole() -> Iterator[int]:
    """A port whose listener accepts connections (kernel backlog) and never answers."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(64)
        yield s.getsockname()[1]


@pytest.mark.parametrize("where", ["closed", "silent"])
@pytest.mark.parametrize(
    "argv", [("status",), ("flags", "list"), ("agents", "kill", "--all", "--yes")]
)
def test_redis_unreachable_exits_3_fast(cli, monkeypatch, black_hole, where, argv):
    port = free_port() if where == "closed" else black_hole
    monkeypatch.setenv("AGENTCONSOLE_REDIS_URL", f"redis://127.0.0.1:{port}/0")
    r = cli(*argv)
    assert r.code == 3, r.err
    assert "Redis unreachable" in r.err and f":{port}" in r.err
    assert_one_line(r)


def test_subprocess_round_trip_and_unreachable(cli_env, black_hole):
    env = os.environ | cli_env
    run = lambda *a, **kw: subprocess.run(  # noqa: E731
        [AGENTCONSOLE, *a], capture_output=True, text=True, timeout=20, **kw
    )
    r = run("flags", "create", "via-subprocess", "--enabled", env=env)
    assert r.returncode == 0, r.stderr
    r = run("--json", "flags", "show", "via-subprocess", env=env)
    assert r.returncode == 0 and '"enabled": true' in r.stdout
    # a silent Redis: answered by the connect timeout (run()'s 20 s timeout guards a hang)
    r = run("status", env=env | {"AGENTCONSOLE_REDIS_URL": f"redis://127.0.0.1:{black_hole}/0"})
    assert r.returncode == 3 and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
    r = subprocess.run(
        [sys.executable, "-m", "agentconsole", "status"],
        capture_output=True,
        text=True,
        timeout=20,
        env=env,
    )
    assert r.returncode == 0 and "reachable" in r.stdout


def test_config_error_is_exit_2_naming_file_and_key(cli, tmp_path, monkeypatch):
    bad = tmp_path / "bad.yaml"
    bad.write_text("redis:\n  connect_timeout: soon\n")
    r = cli("--config", str(bad), "status")
    assert r.code == 2 and str(bad) in r.err and "redis.connect_timeout" in r.err
    assert "expected a number" in r.err
    assert_one_line(r)
    secret = tmp_path / "secret.yaml"
    secret.write_text("redis:\n  password: hunter2\n")
    r = cli("--config", str(secret), "flags", "list")
    assert r.code == 2 and "redis.password" in r.err and "hunter2" not in r.err
    r = cli("--config", str(tmp_path / "missing.yaml"), "status")
    assert r.code == 2 and "not found" in r.err
    monkeypatch.setenv("AGENTCONSOLE_ROLE", "superuser")
    from agentconsole.cli.main import main

    assert main(["status"]) == 2


def test_usage_errors_are_exit_2(cli):
    for argv in (("flags",), ("nope",), ("flags", "rollout", "f"), ("audit", "tail", "-n", "x")):
        r = cli(*argv)
        assert r.code == 2, argv
        assert "Traceback" not in r.err


async def test_key_of_the_wrong_type_is_one_clear_line(plane, acli):
    await plane.redis.set(plane.keys.flags, "not a hash")
    r = await acli("flags", "list")  # skipped and reported naming the key; the listing works
    assert r.code == 0 and f"{plane.keys.flags}: holds the wrong type of value" in r.err
    assert_one_line(r)
