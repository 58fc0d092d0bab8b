"""The shipped Prometheus rules: promtool's checks and unit tests, and the shared alert table."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from tests.fixtures.alerts import ALERT_RUNBOOKS
from tests.fixtures.procs import require_binary

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy" / "prometheus"


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [require_binary("promtool"), *args],
        cwd=DEPLOY,
        capture_output=True,
        text=True,
        timeout=60,
    )


def alert_rules() -> list[dict]:
    doc = yaml.safe_load((DEPLOY / "alerts.yml").read_text())
    return [r for g in doc["groups"] for r in g["rules"] if "alert" in r]


def test_promtool_check_rules() -> None:
    done = promtool("check", "rules", "recording.yml", "alerts.yml")
    assert done.returncode == 0, done.stdout + done.stderr


def test_promtool_check_example_config() -> None:
    done = promtool("check", "config", "prometheus.yml")
    assert done.returncode == 0, done.stdout + done.stderr


def test_promtool_unit_tests_pass() -> None:
    done = promtool("test", "rules", "tests/alerts_test.yml")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def test_every_alert_of_the_shared_table_with_its_runbook() -> None:
    rules = {r["alert"]: r for r in alert_rules()}
    assert set(rules) == set(ALERT_RUNBOOKS)
    for name, rule in rules.items():
        assert rule["labels"]["severity"] in ("critical", "warning", "info"), name
        notes = rule["annotations"]
        assert {"summary", "description", "runbook", "runbook_url"} <= set(notes), name
        assert notes["runbook"] == ALERT_RUNBOOKS[name], name
        assert notes["runbook_url"].endswith("/" + ALERT_RUNBOOKS[name]), name


def test_alerts_reach_the_console_within_a_minute() -> None:
    """The demo evaluates every second: `for:` must leave time to see the alert fire."""
    for rule in alert_rules():
        for_ = rule.get("for", "0s")
        seconds = int(for_[:-1]) * {"s": 1, "m": 60}[for_[-1]]
        assert seconds <= 30, rule["alert"]


def test_every_alert_has_a_firing_and_a_quiet_unit_test() -> None:
    doc = yaml.safe_load((DEPLOY / "tests" / "alerts_test.yml").read_text())
    fires, quiet = set(), set()
    for test in doc["tests"]:
        for case in test.get("alert_rule_test", []):
            (fires if case.get("exp_alerts") else quiet).add(case["alertname"])
    assert fires == set(ALERT_RUNBOOKS), set(ALERT_RUNBOOKS) - fires
    assert quiet == set(ALERT_RUNBOOKS), set(ALERT_RUNBOOKS) - quiet


def test_runbook_files_exist_for_every_alert() -> None:
    missing = sorted(
        {r for r in ALERT_RUNBOOKS.values() if not (ROOT / "runbooks" / f"{r}.md").is_file()}
    )
    if missing:
        pytest.skip(f"runbooks not written yet: {', '.join(missing)}")


def test_agent_runaway_is_near_the_limit_by_the_consoles_rule() -> None:
    """The alert's step leg and TOP RUNAWAY AGENTS use one rule: NEAR_LIMIT of the live
    step limit (control/runaway.py), not a count of their own."""
    from agentconsole.control.runaway import NEAR_LIMIT

    (rule,) = [r for r in alert_rules() if r["alert"] == "AgentRunaway"]
    expr = " ".join(rule["expr"].split())
    assert f"max(agent_run_max_steps) >= {NEAR_LIMIT:g} * (max(agent_run_step_limit) > 0)" in expr


def test_every_recorded_panel_query_reads_a_shipped_rule_without_per_agent_labels() -> None:
    """A panel's ``recorded`` query names only series the shipped rules record, and those
    rules aggregate away the process (no ``by`` of a per-agent label): one series per panel
    (or per model, tenant, dependency), whatever the fleet."""
    import re

    from agentconsole.metrics.panels import load_preset
    from tests.metrics.test_victoria import PER_AGENT

    doc = yaml.safe_load((DEPLOY / "recording.yml").read_text())
    rules = {r["record"]: r["expr"] for g in doc["groups"] for r in g["rules"] if "record" in r}
    panels = load_preset("agentconsole")["panels"]
    recorded = {p["id"]: p["recorded"] for p in panels if "recorded" in p}
    assert len(recorded) == len(panels)  # spend today too: the rule's per-evaluation increments
    for pid, query in recorded.items():
        names = set(re.findall(r"[a-z_]+:[a-z0-9_]+:[a-z0-9_]+", query))
        assert names and names <= set(rules), (pid, query)
        for name in names:
            for clause in re.findall(r"\bby\s*\(([^)]*)\)", rules[name]):
                assert not {x.strip() for x in clause.split(",")} & PER_AGENT, (name, clause)
            assert re.search(r"\b(sum|max|histogram_quantile)\s*[(b]", rules[name]), name
