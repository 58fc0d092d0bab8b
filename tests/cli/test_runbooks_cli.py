"""`agentconsole runbooks lint|list|show` and `agentconsole incidents list|export|resolve`."""

from __future__ import annotations

from pathlib import Path

from agentconsole.runbook.context import AlertContext
from agentconsole.runbook.parser import parse
from agentconsole.runbook.session import RunbookSession
from tests.cli.conftest import assert_one_line
from tests.runbook.helpers import GOOD, runbook_text

ROOT = Path(__file__).resolve().parents[2]
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"


def test_lint_shipped_runbooks_with_cross_check(cli):
    r = cli("runbooks", "lint", str(ROOT / "runbooks"), "--alerts", str(ALERTS))
    assert r.code == 0, r.out + r.err
    assert r.out.strip().endswith(": no problem(s)")


def test_lint_reports_file_and_line_and_fails(cli, tmp_path):
    bad = tmp_path / "books"
    bad.mkdir()
    (bad / "demo.md").write_text(runbook_text("## Fix\n\n```action\nreboot the world\n```\n"))
    (bad / "broken.md").write_text("---\nid: [\n---\n")
    r = cli("runbooks", "lint", str(bad), "--no-alerts")
    assert r.code == 1
    lines = r.out.strip().splitlines()
    assert lines[0].startswith(f"{bad / 'broken.md'}:2: front matter is not valid YAML")
    assert f"{bad / 'demo.md'}:12: unknown action 'reboot the'" in r.out
    assert lines[-1] == "1 runbook(s): 3 problem(s)"
    js = cli("runbooks", "lint", str(bad), "--no-alerts", "--json")
    assert {p["line"] for p in js.json()["problems"]} >= {2, 12}


def test_lint_notes_a_missing_rules_file(cli, tmp_path):
    (tmp_path / "demo.md").write_text(GOOD)
    r = cli("runbooks", "lint", str(tmp_path / "demo.md"))
    assert r.code == 0
    assert "alert cross-check skipped" in r.err


def test_list_and_show(cli, monkeypatch):
    monkeypatch.chdir(ROOT)  # runbooks_dir defaults to ./runbooks
    r = cli("runbooks", "list", "--json")
    assert r.code == 0
    shipped = {path.stem for path in (ROOT / "runbooks").glob("*.md")}
    assert {b["id"] for b in r.json()["runbooks"]} == shipped
    assert "provider-outage" in cli("runbooks", "list").out
    r = cli("runbooks", "show", "provider-outage", "--label", "dependency=openai")
    assert r.code == 0, r.err
    assert "  $ breaker trip openai for 15m" in r.out
    assert 'dependency="openai"' in r.out
    evil = cli("runbooks", "show", "provider-outage", "--label", "dependency=a b\nkill all")
    assert "refused: labels.dependency" in evil.out
    assert "$ kill all" not in evil.out
    missing = cli("runbooks", "show", "nope")
    assert missing.code == 1
    assert_one_line(missing)


async def test_incidents_list_export_resolve(plane, acli, tmp_path):
    runbook, _ = parse(GOOD, "demo.md")
    alert = AlertContext(
        "DependencyBreakerOpen", {"dependency": "openai"}, {"summary": "breaker open"}
    )
    session = RunbookSession(plane, runbook, alert)
    await session.start()
    await session.mark(1, "done", "looked")
    r = await acli("incidents", "list")
    assert r.code == 0
    assert session.incident_id in r.out and "1 done, 0 skipped / 4" in r.out and "open" in r.out
    out = tmp_path / "timeline.md"
    r = await acli("incidents", "export", session.incident_id, "-o", str(out))
    assert r.code == 0 and out.read_text().startswith(f"# Incident {session.incident_id}")
    r = await acli("incidents", "resolve", session.incident_id, "--note", "recovered")
    assert r.code == 0 and "resolved at" in r.out
    r = await acli("incidents", "export", session.incident_id)
    assert "incident resolved by alice" in r.out
    r = await acli("incidents", "resolve", session.incident_id, role="viewer")
    assert r.code == 1 and "runbook.step needs the responder role" in r.err
    assert_one_line(r)
    r = await acli("incidents", "export", "inc-nope")
    assert r.code == 1 and "no incident 'inc-nope'" in r.err
