"""The alert a runbook is worked for, reduced to plain data, and the incident id it maps to.

Built by duck typing from the metrics layer's ``Alert`` (or a dict, e.g. from the CLI), so
the runbook engine does not depend on how alerts were fetched.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from agentconsole.runbook.template import Values


def incident_id(name: str, labels: Mapping[str, str]) -> str:
    """Stable short id of one alert instance: the same alert gives the same incident on
    every console, which is what makes handoff work."""
    blob = json.dumps([name, sorted((str(k), str(v)) for k, v in labels.items())])
    return "inc-" + hashlib.sha256(blob.encode()).hexdigest()[:10]


@dataclass
class AlertContext:
    name: str
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    state: str = "firing"
    severity: str = ""
    active_at: float | None = None
    value: str = ""
    raw: Any = None  # the metrics layer's Alert, needed to silence it

    @classmethod
    def from_alert(cls, alert: Any) -> AlertContext:
        get = alert.get if isinstance(alert, Mapping) else lambda k, d=None: getattr(alert, k, d)
        labels = {str(k): str(v) for k, v in dict(get("labels") or {}).items()}
        name = str(get("name") or labels.get("alertname") or "")
        return cls(
            name=name,
            labels=labels,
            annotations={str(k): str(v) for k, v in dict(get("annotations") or {}).items()},
            state=str(get("state") or "firing"),
            severity=str(get("severity") or labels.get("severity") or ""),
            active_at=get("active_at"),
            value=str(get("value") or ""),
            raw=alert,
        )

    @property
    def incident_id(self) -> str:
        return incident_id(self.name, self.labels)

    @property
    def runbook_id(self) -> str | None:
        """The runbook the alert names: its ``runbook`` annotation, else its runbook_url."""
        rid = self.annotations.get("runbook", "").strip()
        if not rid:
            url = self.annotations.get("runbook_url", "").strip().rstrip("/")
            rid = url.rsplit("/", 1)[-1].removesuffix(".md") if url else ""
        return rid or None

    def values(self) -> Values:
        return Values(self.name, self.severity, self.state, self.labels, self.annotations)

    def describe(self) -> str:
        shown = ", ".join(f"{k}={v}" for k, v in sorted(self.labels.items()) if k != "alertname")
        return f"{self.name}{{{shown}}}" if shown else self.name
