"""The SDK's Prometheus metrics: exactly the names of the shared contract (docs/metrics.md).

One set per CollectorRegistry, shared by every runtime in the process that uses it, because
prometheus-client refuses to register the same name twice in one registry.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry, Counter, Histogram

RUN_BUCKETS = (0.1, 0.25, 0.5, 1, 2, 3, 5, 8, 13, 20, 30, 60, 120)
STEP_BUCKETS = (1, 2, 3, 5, 8, 13, 20, 30, 50, 80, 130)
CALL_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30)
BREAKER_VALUE = {"closed": 0, "half_open": 1, "open": 2}
OUTCOMES = ("success", "failure", "killed", "budget_exceeded", "runaway")
VARIANTS = ("on", "off")
KILL_SCOPES = ("agent", "tenant", "all")
# Flags whose runs one process labels by variant (tracked or under a rollout plan): each
# costs 2 variants x (5 outcomes + 16 duration series + tokens + cost) = 46 series.
MAX_VARIANT_FLAGS = 20

_lock = threading.Lock()
_by_registry: dict[int, AgentMetrics] = {}


class AgentMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        from prometheus_client import Counter, Gauge, Histogram

        r = registry
        self.registry = registry
        self.runs = Counter("agent_runs", "Runs by outcome", ["outcome"], registry=r)
        self.run_duration = Histogram(
            "agent_run_duration_seconds",
            "Run wall time",
            ["outcome"],
            buckets=RUN_BUCKETS,
            registry=r,
        )
        self.run_steps = Histogram(
            "agent_run_steps", "Steps per finished run", buckets=STEP_BUCKETS, registry=r
        )
        self.active_runs = Gauge("agent_active_runs", "Runs in progress", registry=r)
        self.dep_calls = Counter(
            "agent_dependency_calls",
            "Dependency calls (rejected = breaker open, not called)",
            ["dependency", "outcome"],
            registry=r,
        )
        self.dep_duration = Histogram(
            "agent_dependency_call_duration_seconds",
            "Dependency call latency",
            ["dependency"],
            buckets=CALL_BUCKETS,
            registry=r,
        )
        self.dep_errors = Counter(
            "agent_dependency_errors",
            "Dependency errors by type",
            ["dependency", "error_type"],
            registry=r,
        )
        self.retries = Counter("agent_retries", "Retried attempts", ["dependency"], registry=r)
        self.tokens = Counter(
            "agent_tokens", "Tokens used", ["type", "model", "tenant"], registry=r
        )
        self.cost = Counter("agent_cost_usd", "Spend in USD", ["model", "tenant"], registry=r)
        self.breaker_state = Gauge(
            "agent_breaker_state",
            "Effective breaker state: 0 closed, 1 half_open, 2 open",
            ["dependency"],
            registry=r,
        )
        self.kills = Counter("agent_kills", "Runs stopped by a kill", ["scope"], registry=r)
        self.runs_refused = Counter(
            "agent_runs_refused", "New runs refused (never started)", ["reason"], registry=r
        )
        self.budget_rejections = Counter(
            "agent_budget_rejections", "Calls refused by a budget", ["limit"], registry=r
        )
        self.runaway = Counter(
            "agent_runaway", "Runs stopped by the runaway guard", ["limit"], registry=r
        )
        self.run_max_steps = Gauge(
            "agent_run_max_steps", "Highest step count among active runs", registry=r
        )
        # the guard's step limit in force (run_max_steps, live from Redis; 0: none): lets
        # AgentRunaway judge "near the limit" by the rule the console uses (control/runaway.py)
        self.run_step_limit = Gauge(
            "agent_run_step_limit", "run_max_steps in force for this process's runs", registry=r
        )
        self.controls_engaged = Gauge(
            "agent_controls_engaged",
            "Controls in force: kill_switch flags off, global_stop, tenant_stop, drain, pause",
            ["kind"],
            registry=r,
        )
        self.control_version = Gauge(
            "agent_control_version", "Control-plane version this process applied", registry=r
        )
        self.control_stale = Gauge(
            "agent_control_stale_seconds",
            "Seconds since the control-plane snapshot was last known fresh",
            registry=r,
        )
        # per-variant run metrics, for flags that label variants only (docs/metrics.md)
        variant_labels = ["flag", "variant"]
        self.flag_runs = Counter(
            "agent_flag_runs",
            "Finished runs that evaluated the flag, by the variant they got",
            [*variant_labels, "outcome"],
            registry=r,
        )
        self.flag_run_duration = Histogram(
            "agent_flag_run_duration_seconds",
            "Run wall time, by the flag variant the run got",
            variant_labels,
            buckets=RUN_BUCKETS,
            registry=r,
        )
        self.flag_run_tokens = Counter(
            "agent_flag_run_tokens", "Tokens of runs, by flag variant", variant_labels, registry=r
        )
        self.flag_run_cost = Counter(
            "agent_flag_run_cost_usd", "Spend of runs, by flag variant", variant_labels, registry=r
        )
        self.variant_flags: set[str] = set()
        self.control_reset = Gauge(
            "agent_control_reset",
            "1 while holding the last snapshot through a control-plane reset (wiped or "
            "replaced Redis), until an operator restores or accepts",
            registry=r,
        )
        # label children looked up once (labels() costs more than inc() on the hot path,
        # and a kill ends hundreds of runs in one turn of the loop): see _child
        self._children: dict[tuple[object, tuple[str, ...]], Any] = {}
        # every known label value exists from the start, so rates and alerts see a 0
        for outcome in OUTCOMES:
            self._child(self.runs, outcome)
        for scope in KILL_SCOPES:
            self._child(self.kills, scope)
        for limit in (
            "request_tokens",
            "user_daily_tokens",
            "user_daily_cost_usd",
            "tenant_daily_cost_usd",
        ):
            self.budget_rejections.labels(limit)
        for limit in ("steps", "seconds"):
            self.runaway.labels(limit)
        for reason in ("drain", "safe_mode"):
            self.runs_refused.labels(reason)
        # looked up once: every snapshot applied sets them (labels() costs more than set())
        self.engaged = {
            kind: self.controls_engaged.labels(kind)
            for kind in ("kill_switch", "global_stop", "tenant_stop", "drain", "pause")
        }

    def flag_run(
        self, flag: str, variant: str | bool, outcome: str, seconds: float, tokens: int, cost: float
    ) -> None:
        """Count one finished run under the variant it got; a flag seen first starts at 0."""
        if flag not in self.variant_flags:
            with _lock:
                if len(self.variant_flags) >= MAX_VARIANT_FLAGS:
                    return
                self.variant_flags.add(flag)
            for known in VARIANTS:
                for each in OUTCOMES:
                    self.flag_runs.labels(flag, known, each)
                self.flag_run_duration.labels(flag, known)
                self.flag_run_tokens.labels(flag, known)
                self.flag_run_cost.labels(flag, known)
        if not isinstance(variant, str):  # a boolean flag: on/off
            variant = "on" if variant else "off"
        self.flag_runs.labels(flag, variant, outcome).inc()
        self.flag_run_duration.labels(flag, variant).observe(seconds)
        self.flag_run_tokens.labels(flag, variant).inc(tokens)
        self.flag_run_cost.labels(flag, variant).inc(cost)

    def _child(self, metric: Any, *labels: str) -> Any:
        """``metric.labels(*labels)``, looked up once per label set."""
        key = (metric, labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    def run_ended(self, outcome: str, seconds: float, steps: int) -> None:
        """One finished run: counted by outcome, its wall time and steps observed."""
        self._child(self.runs, outcome).inc()
        self._child(self.run_duration, outcome).observe(seconds)
        self.run_steps.observe(steps)

    def killed(self, scope: str) -> None:
        """One run stopped by a kill of ``scope`` (agent, tenant, all)."""
        self._child(self.kills, scope).inc()

    def duration(self, dependency: str) -> Histogram:
        child: Histogram = self._child(self.dep_duration, dependency)
        return child

    def call_counter(self, dependency: str, outcome: str) -> Counter:
        child: Counter = self._child(self.dep_calls, dependency, outcome)
        return child


def metrics_for(registry: CollectorRegistry | None = None) -> AgentMetrics:
    if registry is None:
        from prometheus_client import REGISTRY

        registry = REGISTRY
    with _lock:
        found = _by_registry.get(id(registry))
        if found is None or found.registry is not registry:
            found = _by_registry[id(registry)] = AgentMetrics(registry)
        return found
