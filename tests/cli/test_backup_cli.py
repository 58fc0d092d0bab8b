"""`agentconsole backup` / `restore` / `status` around a control-plane reset."""

from __future__ import annotations

import json
import time

import redis

from agentconsole.control.epoch import SCHEMA_MISSING, Holding
from agentconsole.control.keys import Keys


def _redis(settings) -> redis.Redis:
    return redis.Redis.from_url(settings.redis.url)


def _wipe_under_holding_agents(settings, held_epoch: str, held_version: int) -> None:
    keys = Keys(settings.redis.prefix)
    r = _redis(settings)
    names = list(r.scan_iter(match=f"{keys.tag}:*"))
    r.delete(*names)
    now = time.time()
    report = Holding("agent:h:1", held_epoch, held_version, 3, now, SCHEMA_MISSING, now)
    r.hset(keys.reset_holders, report.process, report.dump())


def test_backup_then_restore_after_a_wipe(cli, settings, tmp_path):
    assert cli("flags", "create", "tools", "--type", "kill-switch", "--enabled").code == 0
    assert cli("flags", "disable", "tools", "--reason", "engaged", "--yes").code == 0
    assert cli("agents", "kill", "--tenant", "evil", "--yes", "--reason", "abuse").code == 0
    out = cli("backup", "--output", str(tmp_path / "b.json"), role="viewer")  # cron-friendly
    assert out.code == 0, out.err
    assert "2 kills" not in out.out and "1 flags" in out.out and "1 kills" in out.out
    saved = json.loads((tmp_path / "b.json").read_text())
    assert (tmp_path / "b.json").stat().st_mode & 0o077 == 0
    _wipe_under_holding_agents(settings, saved["epoch"]["id"], saved["version"])

    status = cli("status")
    assert status.code == 1
    assert "control plane reset at" in status.out and "3 agents holding" in status.out
    assert "agentconsole restore" in status.out
    assert f"epoch {saved['epoch']['id']} v{saved['version']}" in status.out
    assert _redis(settings).get(Keys(settings.redis.prefix).schema) is None  # not re-stamped
    refused = cli("flags", "create", "other")
    assert refused.code == 1 and "restore" in refused.err and "Traceback" not in refused.err

    done = cli("restore", str(tmp_path / "b.json"), "--yes", "--reason", "failover", "--json")
    assert done.code == 0, done.err
    assert done.json()["how"] == "restore" and done.json()["held"] == {
        saved["epoch"]["id"]: saved["version"]
    }
    listed = cli("flags", "list", "--json").json()
    assert [f["name"] for f in listed["flags"]] == ["tools"] and not listed["flags"][0]["enabled"]
    assert cli("status").code == 0
    audit = cli("audit", "tail", "--json").json()
    assert [e["action"] for e in audit["entries"]].count("control.restore") == 1


def test_restore_refuses_without_yes_and_bad_files(cli, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    out = cli("restore", str(bad), "--yes")
    assert out.code == 1 and "not a JSON backup" in out.err
    bad.write_text("[]")
    assert "not an agentconsole backup" in cli("restore", str(bad), "--yes").err
    assert cli("restore", str(tmp_path / "missing.json"), "--yes").code == 1
    assert cli("restore", "--accept").code == 1  # no terminal, no --yes: refused
    assert cli("restore", "--accept", "--yes", role="responder").code == 1
