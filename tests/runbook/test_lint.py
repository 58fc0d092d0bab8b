from pathlib import Path

from agentconsole.runbook.lint import lint
from agentconsole.runbook.template import ALLOWED
from tests.runbook.helpers import GOOD, runbook_text

ALERTS = """\
groups:
  - name: agents
    rules:
      - alert: DependencyBreakerOpen
        expr: max by (dependency) (agent_breaker_state) == 2
        for: 1m
        labels:
          severity: critical
        annotations:
          summary: breaker open
          runbook: demo
      - record: job:x:rate5m
        expr: sum(rate(x[5m]))
      - alert: AgentRunaway
        expr: increase(agent_runaway_total[5m]) > 0
        annotations:
          runbook: runaway-agent
      - alert: AgentsNotReporting
        expr: up{job="agents"} == 0
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_good_runbook_is_clean(tmp_path):
    write(tmp_path, "demo.md", GOOD)
    library, problems = lint([tmp_path])
    assert problems == []
    assert list(library.runbooks) == ["demo"]


def test_every_problem_has_file_and_line(tmp_path):
    body = """
Intro {{ secrets.token }}

## Diagnosis

```promql
up{x="{{ labels.x }}"} + {{ label.typo }}
```

## Mitigation

```action
breaker trip {{ labels.dependency }} for 15m
restart the world
kill tenant {{ labels.tenant }} now
flag rollout new-planner 150
```

## Empty

"""
    path = write(tmp_path, "demo.md", runbook_text(body))
    _, problems = lint([tmp_path])
    found = [(p.line, p.message) for p in problems]
    assert all(p.path == str(path) for p in problems)
    assert (10, f"unknown template variable {{{{ secrets.token }}}} (use {ALLOWED})") in found
    lines = sorted(line for line, _ in found)
    assert lines == [10, 15, 22, 23, 24, 27, 27]
    text = "\n".join(str(p) for p in problems)
    assert f"{path}:22: unknown action 'restart the'" in text
    assert f"{path}:23: bad arguments for kill tenant" in text
    assert f"{path}:24: percent must be between 0 and 100%, got 150%" in text
    assert "step 'Empty' is empty" in text
    assert "missing step: a runbook with actions needs a verify step" in text


def test_no_steps_and_duplicate_ids(tmp_path):
    write(tmp_path, "demo.md", runbook_text("just text\n"))
    sub = tmp_path / "more"
    sub.mkdir()
    write(sub, "demo.md", GOOD)
    _, problems = lint([tmp_path, sub])
    text = "\n".join(str(p) for p in problems)
    assert "missing step: add at least one '## ' section" in text
    assert "duplicate runbook id 'demo'" in text


def test_cross_check_with_the_alert_rules(tmp_path):
    rb_dir = tmp_path / "runbooks"
    rb_dir.mkdir()
    front = (
        "id: demo\ntitle: Demo\nalerts: [DependencyBreakerOpen, AgentGhost]\n"
        "severity: warning\nowner: oncall\nversion: 1\n"
    )
    write(rb_dir, "demo.md", runbook_text("## A\ntext\n", front))
    alerts = write(tmp_path, "alerts.yml", ALERTS)
    _, problems = lint([rb_dir], alerts)
    found = sorted((Path(p.path).name, p.line, p.message) for p in problems)
    assert found == [
        (
            "alerts.yml",
            14,
            "alert AgentRunaway names runbook 'runaway-agent', which does not exist",
        ),
        ("alerts.yml", 18, "alert AgentsNotReporting has no runbook"),
        ("demo.md", 4, f"alert 'AgentGhost' is not defined in {alerts}"),
    ]


def test_missing_rules_file_is_a_problem(tmp_path):
    write(tmp_path, "demo.md", GOOD)
    _, problems = lint([tmp_path], tmp_path / "nope.yml")
    assert "cannot read alert rules" in problems[0].message


def test_promql_syntax_is_checked_by_promtool(tmp_path):
    from tests.fixtures.procs import require_binary

    require_binary("promtool")
    body = """
## Look

```promql
sum(rate(agent_runs_total{outcome="{{ labels.x }}"}[5m])

# fine
sum by ({{ labels.by }}) (up)
```

## Verify

```verify
rate(foo[5m] > 0
```
"""
    path = write(tmp_path, "demo.md", runbook_text(body))
    _, problems = lint([path], promql=True)
    assert [(p.line, p.message.split(":")[0]) for p in problems] == [
        (13, "PromQL does not parse"),
        (22, "PromQL does not parse"),
    ]
    assert "unclosed left parenthesis" in problems[0].message
