"""Injected secret values never appear in anything the program writes.

Unique values go into $AGENTCONSOLE_REDIS_PASSWORD (and the Prometheus token/password); then
every output channel is collected (stdout, stderr, log records at DEBUG, the audit stream,
exception text and tracebacks, reprs, a real subprocess) and searched for them.
"""

from __future__ import annotations

import logging
import os
import secrets
import subprocess
import sys
import traceback
from pathlib import Path

import pytest

from agentconsole.cli.main import main

PROM_TOKEN = "prom-token-" + secrets.token_hex(8)
PROM_PASSWORD = "prom-pass-" + secrets.token_hex(8)


@pytest.fixture
def env(acl_redis, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    monkeypatch.delenv("AGENTCONSOLE_CONFIG", raising=False)
    values = {
        "AGENTCONSOLE_REDIS_URL": acl_redis.server.url,
        "AGENTCONSOLE_REDIS_PREFIX": acl_redis.prefix,
        "AGENTCONSOLE_REDIS_USERNAME": "ac-admin",
        "AGENTCONSOLE_REDIS_PASSWORD": acl_redis.passwords["admin"],
        "AGENTCONSOLE_PROMETHEUS_TOKEN": PROM_TOKEN,
        "AGENTCONSOLE_PROMETHEUS_PASSWORD": PROM_PASSWORD,
        "AGENTCONSOLE_ROLE": "admin",
        "AGENTCONSOLE_OPERATOR": "sam",
    }
    for k, v in values.items():
        monkeypatch.setenv(k, v)
    return values


def _secrets(acl_redis) -> list[str]:
    return [*acl_redis.passwords.values(), PROM_TOKEN, PROM_PASSWORD]


def _assert_absent(text: str, acl_redis, where: str) -> None:
    for value in _secrets(acl_redis):
        assert value not in text, f"a secret leaked into {where}"


def _audit_dump(acl_redis) -> str:
    with acl_redis.root() as r:
        return repr(r.xrange(f"{{{acl_redis.prefix}}}:audit")) + repr(
            {k: r.type(k) for k in r.scan_iter(match="*")}
        )


def test_cli_run_writes_no_secret(env, acl_redis, capsys, caplog):
    caplog.set_level(logging.DEBUG)
    commands = [
        ["status"],
        ["--json", "status"],
        ["flags", "create", "secret-test", "--reason", "rotate keys"],
        ["flags", "enable", "secret-test", "--reason", "go"],
        ["flags", "list"],
        ["agents", "list"],
        ["budgets", "show"],
        ["budgets", "set", "request_tokens", "4100", "--reason", "more"],
        ["audit", "tail", "-n", "20"],
        ["--json", "audit", "tail"],
        ["acl", "whoami"],
        ["--json", "acl", "whoami"],
        ["acl", "verify-audit"],
        ["flags", "show", "no-such-flag"],  # an error path
    ]
    for argv in commands:
        main(argv)
    out, err = capsys.readouterr()
    logged = "\n".join(
        f"{r.name} {r.getMessage()} {r.args!r} {r.exc_text or ''}" for r in caplog.records
    )
    _assert_absent(out, acl_redis, "stdout")
    _assert_absent(err, acl_redis, "stderr")
    _assert_absent(logged, acl_redis, "log records")
    _assert_absent(_audit_dump(acl_redis), acl_redis, "Redis (audit stream and keys)")
    assert "secret-test" in out  # the run really happened


def test_wrong_password_is_one_line_without_the_secret(env, acl_redis, monkeypatch, capsys):
    wrong = "wrong-" + secrets.token_hex(8)
    monkeypatch.setenv("AGENTCONSOLE_REDIS_PASSWORD", wrong)
    code = main(["status"])
    _, err = capsys.readouterr()
    assert code in (1, 3)
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert "not permitted" in err or "invalid" in err
    assert wrong not in err
    _assert_absent(err, acl_redis, "stderr")


async def test_exceptions_and_reprs_carry_no_secret(env, acl_redis, monkeypatch):
    from agentconsole.config import load_settings
    from agentconsole.control import ControlPlane, PermissionDenied

    settings = load_settings()
    plane = ControlPlane.from_settings(settings)
    try:
        await plane.check_schema()
        texts = [repr(settings), str(settings), repr(settings.redis), repr(plane.redis)]
        texts.append(repr(plane.redis.connection_pool))
    finally:
        await plane.close()
    wrong = "wrong-" + secrets.token_hex(8)
    monkeypatch.setenv("AGENTCONSOLE_REDIS_PASSWORD", wrong)
    bad = ControlPlane.from_settings(load_settings())
    try:
        with pytest.raises(PermissionDenied) as info:
            await bad.check_schema()
        texts += [str(info.value), repr(info.value)]
        texts += traceback.format_exception(info.value)
    finally:
        await bad.close()
    joined = "\n".join(texts)
    _assert_absent(joined, acl_redis, "reprs/exceptions")
    assert wrong not in joined


def test_connection_kwargs_repr_is_the_one_place_to_watch(acl_redis, env):
    """redis-py keeps the password in its connection kwargs: never log those."""
    from agentconsole.config import load_settings
    from agentconsole.control.connection import connect

    client = connect(load_settings().redis)
    kwargs = client.connection_pool.connection_kwargs
    assert kwargs["password"] == acl_redis.passwords["admin"]  # needed to AUTH, so present
    assert acl_redis.passwords["admin"] not in repr(client.connection_pool)


def test_config_file_password_refused_without_echoing_it(tmp_path, monkeypatch, capsys):
    value = "in-yaml-" + secrets.token_hex(8)
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"redis:\n  password: {value}\n")
    monkeypatch.delenv("AGENTCONSOLE_CONFIG", raising=False)
    assert main(["--config", str(cfg), "status"]) == 2
    err = capsys.readouterr().err
    assert "secrets are never read from the config file" in err and value not in err


def test_url_with_password_refused_without_echoing_it(monkeypatch, capsys, tmp_path):
    value = "in-url-" + secrets.token_hex(8)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("AGENTCONSOLE_CONFIG", raising=False)
    monkeypatch.setenv("AGENTCONSOLE_REDIS_URL", f"redis://user:{value}@127.0.0.1:1/0")
    assert main(["status"]) == 2
    err = capsys.readouterr().err
    assert "carries a password" in err and value not in err


def test_subprocess_run_writes_no_secret(env, acl_redis, tmp_path):
    """A real process: whatever reaches the terminal, warnings and exit handlers included."""
    exe = Path(sys.executable).with_name("agentconsole")
    run_env = dict(os.environ) | env | {"PYTHONWARNINGS": "always", "COLUMNS": "200"}
    outputs = []
    for argv in (["status"], ["flags", "list"], ["acl", "whoami"]):
        proc = subprocess.run(
            [str(exe), *argv], env=run_env, capture_output=True, text=True, timeout=20
        )
        assert proc.returncode == 0, proc.stderr
        outputs.append(proc.stdout + proc.stderr)
    bad_env = run_env | {"AGENTCONSOLE_REDIS_PASSWORD": "nope-" + secrets.token_hex(6)}
    proc = subprocess.run(
        [str(exe), "status"], env=bad_env, capture_output=True, text=True, timeout=20
    )
    assert proc.returncode in (1, 3) and "Traceback" not in proc.stderr
    outputs.append(proc.stdout + proc.stderr)
    joined = "\n".join(outputs)
    _assert_absent(joined, acl_redis, "subprocess output")
    assert bad_env["AGENTCONSOLE_REDIS_PASSWORD"] not in joined


async def test_console_screenshots_carry_no_secret(env, acl_redis):
    """Every view of the console, exported as SVG, with the secrets in the environment."""
    pytest.importorskip("agentconsole.tui.app")
    import time

    from agentconsole.config import load_settings
    from tests.tui.conftest import make_app

    settings = load_settings()
    app = make_app(settings, start_view="overview", clock=time.time)
    shots = []
    async with app.run_test(size=(140, 40)) as pilot:
        for key, view in (("2", "agents"), ("3", "flags"), ("4", "breakers"), ("5", "audit")):
            await pilot.press(key)
            await app.wait_for_paint(view)
            shots.append(app.export_screenshot())
        await pilot.press("question_mark")
        await pilot.pause()
        shots.append(app.export_screenshot())
    _assert_absent("\n".join(shots), acl_redis, "console screenshots")
