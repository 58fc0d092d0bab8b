"""`agentconsole do ...` under a four-eyes policy, then `approvals approve` by someone else."""

from __future__ import annotations

import yaml


def test_two_operators_on_the_cli(cli, monkeypatch, tmp_path):
    config = tmp_path / "agentconsole.yaml"
    config.write_text(yaml.safe_dump({"approvals": {"operations": ["kill.all"]}}))
    monkeypatch.setenv("AGENTCONSOLE_CONFIG", str(config))
    monkeypatch.setenv("AGENTCONSOLE_OPERATOR", "alice")
    asked = cli(
        "do", "--yes", "--wait", "0", "--reason", "runaway", "kill", "all", role="responder"
    )
    assert asked.code == 0 and "needs a second operator" in asked.out, asked.err
    listed = cli("approvals", "list", "--json").json()["requests"]
    assert [r["requested_by"] for r in listed] == ["alice"]
    request_id = listed[0]["id"]
    own = cli("approvals", "approve", request_id, role="responder")
    assert own.code == 1 and "different operator" in own.err
    monkeypatch.setenv("AGENTCONSOLE_OPERATOR", "bob")
    done = cli("approvals", "approve", request_id, "--reason", "ok", role="responder")
    assert done.code == 0 and "approved alice's request" in done.out, done.err
    assert "no pending requests" in cli("approvals", "list").out
    audit = [e["action"] for e in cli("audit", "tail", "--json").json()["entries"]]
    assert audit.count("kill.all") == 1 and "approval.approve" in audit


def test_emergency_override_on_the_cli(cli, monkeypatch, tmp_path):
    config = tmp_path / "agentconsole.yaml"
    config.write_text(yaml.safe_dump({"approvals": {"operations": ["kill.all"]}}))
    monkeypatch.setenv("AGENTCONSOLE_CONFIG", str(config))
    out = cli("do", "--yes", "--wait", "0", "--emergency-override", "kill", "all", role="responder")
    assert out.code == 0 and "EMERGENCY OVERRIDE" in out.out, out.err
    audit = [e["action"] for e in cli("audit", "tail", "--json").json()["entries"]]
    assert "approval.override" in audit and "kill.all" in audit
