"""Plain data the console renders: panel definitions, panel results, alerts.

Why plain dataclasses: the console, the CLI and runbooks all read these, and none of them
should need to know how (or whether) Prometheus answered. Every result says what it knows
(value, sample time, staleness, warnings) and, when something failed, which kind of failure
it was, so the UI can show one precise line instead of a stale number that looks fresh.
"""

from __future__ import annotations

from dataclasses import dataclass, field

ERROR_KINDS = ("unreachable", "timeout", "bad_query", "no_data", "error")
STATUSES = ("ok", "warning", "breach", "unknown")


@dataclass
class Target:
    """A seed target: ``below`` means the value must stay below ``threshold``.

    With ``budget``, the threshold is that budget limit (read from the control plane at
    each fetch) times ``scale``, e.g. a daily cost budget / 24 for a spend-per-hour panel;
    until it is known (or while it is 0: no budget set) the panel has no target.
    """

    threshold: float
    direction: str  # "below" | "above"
    budget: str | None = None
    scale: float = 1.0


@dataclass
class PanelDef:
    id: str
    title: str
    query: str
    series_query: str | None = None
    unit: str = ""
    target: Target | None = None
    warn_margin: float = 0.2
    # Additions beyond the shared contract:
    by: str | None = None  # label name: a by-label panel (cost by model...) fills labels_series
    combine: str = "sum"  # how a by-label panel's value is made from its labels: sum | max
    description: str = ""
    unavailable: str | None = None  # why this panel cannot be computed (e.g. no price table)
    empty: str = ""  # what an empty answer means for this panel ("no successful runs")
    # the same value over recording rules (pre-aggregated, rate window = the preset's
    # interval): read instead of ``query`` while the rule has data
    recorded: str | None = None


@dataclass
class PanelResult:
    panel: PanelDef
    value: float | None = None
    series: list[tuple[float, float]] = field(default_factory=list)
    sample_time: float | None = None
    staleness: float | None = None
    warnings: list[str] = field(default_factory=list)
    error_kind: str | None = None  # one of ERROR_KINDS
    error: str | None = None
    status: str = "unknown"  # one of STATUSES
    labels_series: dict[str, float] = field(default_factory=dict)
    # Additions: the range window the series covers and its step, in seconds.
    window: str | None = None
    step: float | None = None
    last_good: bool = False  # value/series are the last good ones, kept across an error
    source: str = "query"  # "recorded": read from the recording rules' series

    @property
    def ok(self) -> bool:
        return self.error_kind is None


@dataclass
class Alert:
    name: str
    state: str  # "firing" | "pending"
    severity: str
    labels: dict[str, str]
    annotations: dict[str, str]
    active_at: float | None
    value: str
    runbook: str | None
    identity: str
    silenced: bool = False
    silence_ids: list[str] = field(default_factory=list)
    # Additions:
    inhibited: bool = False
    fingerprint: str | None = None  # Alertmanager's, when known

    def age(self, now: float) -> float | None:
        return None if self.active_at is None else max(0.0, now - self.active_at)


@dataclass
class AlertsResult:
    alerts: list[Alert] = field(default_factory=list)
    error_kind: str | None = None
    error: str | None = None
    # Addition: Alertmanager's own problem, separate so the alert list still shows.
    alertmanager_error: str | None = None


def status_for(value: float | None, target: Target | None, warn_margin: float) -> str:
    """ok / warning (within ``warn_margin`` of the threshold) / breach / unknown."""
    if value is None or target is None:
        return "unknown" if value is None else "ok"
    threshold = target.threshold
    margin = abs(threshold) * warn_margin
    if target.direction == "below":
        if value >= threshold:
            return "breach"
        return "warning" if value >= threshold - margin else "ok"
    if value <= threshold:
        return "breach"
    return "warning" if value <= threshold + margin else "ok"
