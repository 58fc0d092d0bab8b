"""The alert rules file (deploy/prometheus/alerts.yml) as the runbook tools need it:
names, expressions and runbook annotations, each with its line for lint."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from agentconsole.runbook.model import Problem

DEFAULT_ALERTS = Path("deploy/prometheus/alerts.yml")


@dataclass
class AlertRule:
    name: str
    expr: str
    line: int
    path: str
    for_: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)

    @property
    def runbook(self) -> str | None:
        return self.annotations.get("runbook") or None


def load_rules(path: str | Path) -> tuple[list[AlertRule], list[Problem]]:
    """Alerting rules of a Prometheus rules file; recording rules are skipped."""
    import yaml

    where = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return [], [Problem(where, 1, f"cannot read alert rules: {exc}")]
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        return [], [Problem(where, mark.line + 1 if mark else 1, f"not valid YAML: {exc}")]
    rules: list[AlertRule] = []
    for group in _seq(_get(root, "groups")):
        for rule in _seq(_get(group, "rules")):
            name = _scalar(_get(rule, "alert"))
            if not name:
                continue
            rules.append(
                AlertRule(
                    name=name,
                    expr=_scalar(_get(rule, "expr")),
                    line=rule.start_mark.line + 1,
                    path=where,
                    for_=_scalar(_get(rule, "for")),
                    labels=_map(_get(rule, "labels")),
                    annotations=_map(_get(rule, "annotations")),
                )
            )
    return rules, []


def _get(node, key: str):
    import yaml

    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            if getattr(k, "value", None) == key:
                return v
    return None


def _seq(node) -> list:
    import yaml

    return list(node.value) if isinstance(node, yaml.SequenceNode) else []


def _scalar(node) -> str:
    import yaml

    return str(node.value) if isinstance(node, yaml.ScalarNode) else ""


def _map(node) -> dict[str, str]:
    import yaml

    if not isinstance(node, yaml.MappingNode):
        return {}
    return {str(k.value): _scalar(v) for k, v in node.value}
