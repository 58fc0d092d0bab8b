"""Small runbook texts for tests, written inline so each test shows what it parses."""

from __future__ import annotations

GOOD = """\
---
id: demo
title: Demo runbook
alerts: [DependencyBreakerOpen]
severity: critical
owner: oncall
version: 2
---

Intro for {{ labels.dependency }}.

## Meaning

The breaker of {{ labels.dependency }} is open.

## Diagnosis

```promql
# calls by outcome
sum by (outcome) (rate(agent_dependency_calls_total{dependency="{{ labels.dependency }}"}[5m]))

vector(1)
```

## Mitigation

```action
breaker trip {{ labels.dependency }} for 15m
flag disable new-planner
```

## Verify

```verify
```
"""


def runbook_text(body: str, front: str | None = None) -> str:
    front = front or (
        "id: demo\ntitle: Demo\nalerts: [DependencyBreakerOpen]\nseverity: warning\n"
        "owner: oncall\nversion: 1\n"
    )
    return f"---\n{front}---\n{body}"
