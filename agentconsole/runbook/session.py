"""Working one runbook for one incident: the engine behind the console's runbook screen.

Kept free of Textual so every behaviour (live queries, verify, guarded actions, shared
progress) is tested without a terminal, and the screen stays a thin view over it.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agentconsole.control.errors import Conflict, ControlError, PermissionDenied
from agentconsole.runbook import template
from agentconsole.runbook.actions import (
    ActionError,
    ActionResult,
    ActionSpec,
    NeedsInput,
    RenderedAction,
    execute,
    parse_line,
    render,
)
from agentconsole.runbook.context import AlertContext, incident_id
from agentconsole.runbook.model import Block, Runbook, Step
from agentconsole.runbook.rules import AlertRule

if TYPE_CHECKING:
    from agentconsole.control.incidents import Incident, Incidents
    from agentconsole.control.plane import ControlPlane

# Labels that come from the rule or Alertmanager rather than from the alert's expression.
NON_SERIES_LABELS = {"alertname", "severity"}
NO_PROMETHEUS = "Prometheus not configured: live queries are not available"


@dataclass
class QueryOutcome:
    line: int
    source: str
    comment: str = ""  # the ``#`` line(s) right above the query: what it shows
    promql: str | None = None
    value: float | None = None
    by_label: dict[str, float] = field(default_factory=dict)
    error: str | None = None

    def summary(self) -> str:
        if self.error:
            return self.error
        if self.by_label and len(self.by_label) > 1:
            shown = sorted(self.by_label.items(), key=lambda kv: -kv[1])[:8]
            return "; ".join(f"{k}: {_num(v)}" for k, v in shown)
        return "no data" if self.value is None else _num(self.value)


@dataclass
class VerifyOutcome:
    holds: bool | None  # None: could not tell
    message: str
    promql: str | None = None


@dataclass
class PreparedAction:
    """An action line of a step, rendered for this alert, or the reason it is refused."""

    step: int
    line: int
    source: str
    rendered: RenderedAction | None = None
    refused: str | None = None
    allowed: bool = True  # the operator's role permits it
    needs: list[str] = field(default_factory=list)  # {{ input.x }} names to ask for
    inputs: dict[str, str] = field(default_factory=dict)

    @property
    def text(self) -> str:
        return self.rendered.text if self.rendered else template.display(self.source)


def _num(value: float) -> str:
    """Four significant digits, but never an exponent for numbers an operator reads as
    money or counts ($97,300 a day, not 9.73e+04)."""
    if 1e4 <= abs(value) < 1e15:
        return f"{value:,.0f}"
    return f"{value:.4g}"


# A recorded rule queried as is keeps its name as a label: noise in a per-label summary.
METRIC_NAME_LABEL = re.compile(r'__name__="[^"]*",?')


def _series_key(key: str) -> str:
    return METRIC_NAME_LABEL.sub("", key).replace(",}", "}")


def split_queries(block: Block) -> list[tuple[int, str, str]]:
    """Queries of a promql block as (line, query, comment): queries are separated by blank
    lines, ``#`` lines are comments and describe the query that follows them."""
    out: list[tuple[int, str, str]] = []
    current: list[str] = []
    comments: list[str] = []
    start = block.line
    for offset, text in enumerate([*block.lines, ""]):
        stripped = text.strip()
        if stripped.startswith("#"):
            if not current:
                comments.append(stripped.lstrip("#").strip())
        elif stripped:
            if not current:
                start = block.line + offset
            current.append(text)
        elif current:
            out.append((start, "\n".join(current), " ".join(comments)))
            current, comments = [], []
        else:
            comments = []
    return out


def verify_query(expr: str, alert: AlertContext, rule: AlertRule | None) -> str:
    """``count`` of the alert's expression restricted to this alert instance's labels.

    The restriction joins on a constant vector carrying the label values, written as
    escaped string literals, so a label value can never change the query's structure.
    """
    skip = NON_SERIES_LABELS | set(rule.labels if rule else ())
    labels = {k: v for k, v in sorted(alert.labels.items()) if k not in skip}
    base = f"({expr.strip()})"
    if not labels or any(not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", k) for k in labels):
        return f"count({base})"
    vector = "vector(1)"
    for name, value in labels.items():
        literal = template.promql_string(value, '"')
        vector = f'label_replace({vector}, "{name}", "{literal}", "", "")'
    return f"count({base} and on({', '.join(labels)}) {vector})"


class RunbookSession:
    """One operator working ``runbook`` for ``alert`` (or without an alert, from the list)."""

    def __init__(
        self,
        plane: ControlPlane,
        runbook: Runbook,
        alert: AlertContext | None = None,
        metrics: Any = None,
        rules: dict[str, AlertRule] | None = None,
    ) -> None:
        from agentconsole.control.incidents import Incidents

        self.plane = plane
        self.runbook = runbook
        self.alert = alert
        self.metrics = metrics
        self.rules = rules or {}
        self.incidents: Incidents = Incidents(plane)
        self.incident: Incident | None = None
        self.values = alert.values() if alert else template.Values()
        self.no_metrics = NO_PROMETHEUS  # what a step says when there is no metrics layer

    @property
    def incident_id(self) -> str:
        if self.alert is not None:
            return self.alert.incident_id
        return incident_id(f"runbook:{self.runbook.id}", {})

    @property
    def read_only(self) -> bool:
        return not self.plane.operator.can("runbook.step")

    # --- progress -----------------------------------------------------------------------

    async def start(self) -> Incident | None:
        """Read the incident of this alert (or runbook), if anyone opened it: opening a
        runbook only reads. The first step marked or action run opens it (handoff: a second
        console resumes where the first stands)."""
        self.incident = await self.incidents.get(self.incident_id)
        return self.incident

    async def _ensure_incident(self) -> Incident:
        """The open incident to write to: join it, or open it now (a resolved one of the
        same alert instance is archived first: the alert fired again)."""
        if self.incident is not None and not self.incident.resolved:
            return self.incident
        alert = self.alert
        self.incident, _ = await self.incidents.open(
            self.incident_id,
            alert=alert.name if alert else "",
            runbook=self.runbook.id,
            labels=dict(alert.labels) if alert else {},
            summary=alert.annotations.get("summary", "") if alert else "",
            runbook_title=self.runbook.title,
            runbook_version=self.runbook.version,
            step_titles=[s.title for s in self.runbook.steps],
        )
        return self.incident

    async def refresh(self) -> Incident | None:
        self.incident = await self.incidents.get(self.incident_id)
        return self.incident

    async def mark(self, step: int, status: str, note: str = "") -> Incident:
        """Mark a step; ``expected`` is what this session last saw, so a concurrent change
        by another operator is reported (Conflict) rather than overwritten."""
        from agentconsole.control.incidents import check_mark

        check_mark(status, note)  # a refused mark opens no incident
        before = self.incident  # a resolved one is replaced by a fresh incident
        seen = before.mark(step) if before is not None and not before.resolved else None
        await self._ensure_incident()
        try:
            self.incident = await self.incidents.mark(
                self.incident_id, step, status, note=note, expected=seen.status if seen else None
            )
        except ControlError:
            await self.refresh()
            raise
        incident = self.incident
        if not incident.resolved and len(incident.steps) >= len(incident.step_titles):
            # Every step is done or skipped: the runbook is worked, the incident ends here.
            with contextlib.suppress(Conflict):  # someone else resolved it just now
                self.incident = await self.incidents.resolve(
                    incident.id, note="every step done or skipped"
                )
        return self.incident

    # --- content ------------------------------------------------------------------------

    def text(self, block: Block) -> str:
        return template.render_text(block.body, self.values)

    async def queries(self, step: Step) -> list[QueryOutcome]:
        outcomes: list[QueryOutcome] = []
        for block in step.of_kind("promql"):
            for line, source, comment in split_queries(block):
                outcome = QueryOutcome(line, source, comment)
                try:
                    outcome.promql = template.render_promql(source, self.values)
                except template.TemplateError as exc:
                    outcome.error = f"not run: {exc}"
                outcomes.append(outcome)
        runnable = [o for o in outcomes if o.promql is not None]
        if runnable and self.metrics is None:
            for o in runnable:
                o.error = self.no_metrics
            return outcomes
        results = await asyncio.gather(*(self.metrics.query(o.promql) for o in runnable))
        for o, result in zip(runnable, results, strict=True):
            if getattr(result, "error_kind", None) == "no_data":
                o.error = None
            elif getattr(result, "error_kind", None):
                o.error = f"{result.error_kind}: {result.error or ''}".rstrip(": ")
                continue
            o.value = result.value
            series = dict(getattr(result, "labels_series", {}) or {})
            o.by_label = {_series_key(k): v for k, v in series.items()}
        return outcomes

    async def alert_expr(self) -> tuple[str | None, AlertRule | None]:
        """The alert's own expression: from Prometheus' rules API, else the rules file."""
        if self.alert is None:
            return None, None
        rule = self.rules.get(self.alert.name)
        fetch = getattr(self.metrics, "rules", None)
        if fetch is not None:
            try:
                data = await fetch()
                for group in data.get("groups", []):
                    for r in group.get("rules", []):
                        if r.get("type") == "alerting" and r.get("name") == self.alert.name:
                            return str(r.get("query", "")), rule
            except Exception:
                pass  # Prometheus did not answer: the rules file is the designed fallback
        return (rule.expr if rule else None), rule

    async def verify(self, step: Step) -> VerifyOutcome:
        """Does the alert condition still hold for this alert instance?"""
        if self.metrics is None:
            return VerifyOutcome(None, self.no_metrics)
        own = "\n".join(b.body for b in step.of_kind("verify")).strip()
        if own:
            try:
                expr = template.render_promql(own, self.values)
            except template.TemplateError as exc:
                return VerifyOutcome(None, f"not run: {exc}")
            promql = f"count(({expr}))"
        else:
            if self.alert is None:
                return VerifyOutcome(None, "open this runbook from an alert to verify it")
            alert_expr, rule = await self.alert_expr()
            if not alert_expr:
                return VerifyOutcome(None, f"the expression of {self.alert.name} is unknown")
            promql = verify_query(alert_expr, self.alert, rule)
        result = await self.metrics.query(promql)
        kind = getattr(result, "error_kind", None)
        if kind and kind != "no_data":
            return VerifyOutcome(None, f"could not verify ({kind}): {result.error or ''}", promql)
        if result.value is not None and result.value > 0:
            return VerifyOutcome(True, "the alert condition still holds", promql)
        return VerifyOutcome(False, "the alert condition no longer holds", promql)

    def actions(self, step: Step) -> list[PreparedAction]:
        return [
            self.prepare(PreparedAction(step.index, line, source))
            for block in step.of_kind("action")
            for line, source in block.numbered()
        ]

    def prepare(self, item: PreparedAction, inputs: dict[str, str] | None = None) -> PreparedAction:
        """Render the action for this alert (and the operator's typed inputs, if any)."""
        item.inputs = dict(inputs or item.inputs)
        item.rendered, item.refused, item.needs = None, None, []
        values = replace(self.values, inputs=item.inputs)
        try:
            spec: ActionSpec = parse_line(item.source, item.line)
            item.allowed = self.plane.operator.can(spec.op.permission)
            item.rendered = render(spec, values)
        except NeedsInput as exc:
            item.needs = exc.names
        except ActionError as exc:
            item.refused = str(exc)
        return item

    async def run(self, item: PreparedAction, note: str = "") -> ActionResult:
        """Execute a confirmed action, then record it (or its failure) on the incident."""
        if item.rendered is None:
            raise ActionError(item.refused or f"needs input: {', '.join(item.needs)}")
        reason = f"runbook {self.runbook.id} step {item.step}: {item.rendered.text}"
        if note:
            reason += f" — {note[:200]}"
        try:
            result = await execute(
                item.rendered,
                self.plane,
                reason=reason,
                metrics=self.metrics,
                alert=self.alert.raw if self.alert else None,
            )
        except Exception as exc:  # recorded on the incident, then reported by the caller
            if not isinstance(exc, PermissionDenied) and not self.read_only:
                with contextlib.suppress(Exception):
                    await self._record(item, ok=False, message=str(exc) or type(exc).__name__)
            raise
        await self._record(item, ok=True, message=result.message, result=result)
        return result

    async def _record(
        self, item: PreparedAction, *, ok: bool, message: str, result: ActionResult | None = None
    ) -> None:
        # The action itself is audited already; a role that may not write the incident
        # record still gets its action done.
        with contextlib.suppress(PermissionDenied):
            await self._ensure_incident()
            self.incident = await self.incidents.record_action(
                self.incident_id,
                item.step,
                item.text,
                ok=ok,
                message=message,
                before=result.before if result else None,
                after=result.after if result else None,
            )


def load_rules_index(path: str | Path | None) -> dict[str, AlertRule]:
    from agentconsole.runbook.rules import load_rules

    if path is None or not Path(path).is_file():
        return {}
    rules, _ = load_rules(path)
    return {r.name: r for r in rules}
