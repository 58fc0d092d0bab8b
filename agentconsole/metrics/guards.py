"""Rollout guards on Prometheus: the canary against the control, over the same window.

Both sides come from the SDK's per-variant run metrics (``agent_flag_*``, docs/metrics.md)
in one instant query each, so they share the window and the moment. The decision rule is
written down in docs/rollouts.md; in short: no decision below ``min_runs`` runs on either
side (wait, and say so); rates (error, success) fail when a one-sided two-proportion z-test
says the canary is worse than the control by more than the allowed difference at the plan's
confidence; p99, cost and tokens per run fail when the point estimate is worse by more than
allowed. A query that fails makes the guard ``error``: the plan holds and says why.
"""

from __future__ import annotations

import functools
import math
from dataclasses import asdict, dataclass, field
from statistics import NormalDist
from typing import TYPE_CHECKING, Any

from agentconsole.metrics.client import QueryFailure, number

if TYPE_CHECKING:
    from agentconsole.control.rollouts import Guard, Plan
    from agentconsole.metrics.client import PromQL

VERDICTS = ("pass", "wait", "error", "fail")  # in rising order of weight


@dataclass
class GuardResult:
    metric: str
    guard: str  # the guard as written, e.g. error_rate:+0.5pt
    verdict: str
    message: str
    canary: float | None = None
    control: float | None = None
    canary_runs: int = 0
    control_runs: int = 0
    worse_by: float | None = None  # canary minus control, in the bad direction
    allowed: float | None = None
    z: float | None = None
    promql: dict[str, str] = field(default_factory=dict)

    def to_doc(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Evaluation:
    """All guards of one plan at one moment; ``verdict`` is the weightiest guard's."""

    flag: str
    verdict: str
    message: str
    window_seconds: int
    at: float
    guards: list[GuardResult]

    def to_doc(self) -> dict[str, Any]:
        doc = asdict(self)
        doc["guards"] = [g.to_doc() for g in self.guards]
        return doc


def queries(flag: str, window: int) -> dict[str, str]:
    """The PromQL of every number a guard reads; ``flag`` is a checked flag name."""
    sel = f'flag="{flag}"'
    w = f"{int(window)}s"

    def by_variant(metric: str, extra: str = "") -> str:
        return f"sum by (variant) (increase({metric}{{{sel}{extra}}}[{w}]))"

    def p99(side: str, matcher: str) -> str:
        # a flag with variants labels each variant: the canary is every side but "off"
        inner = f"agent_flag_run_duration_seconds_bucket{{{sel},{matcher}}}[{w}]"
        return (
            f"label_replace(histogram_quantile(0.99, sum by (le) (increase({inner}))), "
            f'"variant", "{side}", "", "")'
        )

    return {
        "runs": by_variant("agent_flag_runs_total"),
        "failures": by_variant("agent_flag_runs_total", ',outcome="failure"'),
        "successes": by_variant("agent_flag_runs_total", ',outcome="success"'),
        "p99": p99("on", 'variant!="off"') + " or " + p99("off", 'variant="off"'),
        "tokens": by_variant("agent_flag_run_tokens_total"),
        "cost": by_variant("agent_flag_run_cost_usd_total"),
    }


# which queries each guard metric needs besides "runs"
NEEDS = {
    "error_rate": "failures",
    "success_rate": "successes",
    "p99_latency": "p99",
    "tokens_per_run": "tokens",
    "cost_per_run": "cost",
}


def by_variant(result: Any) -> dict[str, float]:
    """{'on': canary, 'off': control} from a vector by ``variant``: every variant served
    but "off" (a flag with variants names each) is the canary. NaN and missing sides are
    left out."""
    out: dict[str, float] = {}
    for row in result or []:
        variant = (row.get("metric") or {}).get("variant")
        value = number((row.get("value") or [None, None])[1])
        if variant and value is not None:
            side = "off" if variant == "off" else "on"
            out[side] = out.get(side, 0.0) + value
    return out


def z_critical(confidence: float) -> float:
    return NormalDist().inv_cdf(confidence)


def judge(
    guard: Guard,
    plan: Plan,
    runs: dict[str, float],
    values: dict[str, float],
) -> GuardResult:
    """One guard's verdict from the run counts and its metric's per-side values.

    For rates ``values`` are the event counts (failures or successes); otherwise the
    metric's value per side (p99 seconds) or its total (tokens, cost), divided by runs here.
    """
    nc, nk = round(runs.get("on", 0.0)), round(runs.get("off", 0.0))
    result = functools.partial(  # what every verdict of this guard carries
        GuardResult, metric=guard.metric, guard=guard.text(), canary_runs=nc, control_runs=nk
    )
    if nc < plan.min_runs or nk < plan.min_runs:
        return result(
            verdict="wait",
            message=(
                f"{guard.label}: waiting for runs (canary {nc:,}, control {nk:,}; "
                f"{plan.min_runs:,} needed on each side)"
            ),
        )
    if guard.is_rate or guard.metric in ("tokens_per_run", "cost_per_run"):
        if "on" not in values or "off" not in values:
            return result(verdict="wait", message=f"{guard.label}: no data yet")
        canary, control = values["on"] / nc, values["off"] / nk
        if guard.is_rate:  # increase() extrapolates each series alone: a ratio may pass 1
            canary, control = min(max(canary, 0.0), 1.0), min(max(control, 0.0), 1.0)
    else:
        if "on" not in values or "off" not in values:
            return result(verdict="wait", message=f"{guard.label}: no data yet")
        canary, control = values["on"], values["off"]
    worse = guard.bad * (canary - control)
    allowed = guard.allowed_difference(control)
    z = None
    if guard.is_rate:
        se = math.sqrt(max(canary * (1 - canary) / nc + control * (1 - control) / nk, 0.0))
        if se > 0:
            z = (worse - allowed) / se
            failed = z > z_critical(plan.confidence)
        else:
            failed = worse > allowed
    else:
        failed = worse > allowed
    shown = (
        f"{guard.label} canary {show(guard.metric, canary)} vs control "
        f"{show(guard.metric, control)}, {nc:,} vs {nk:,} runs"
    )
    if failed:
        message = f"{shown}: worse by more than {guard.text().split(':', 1)[1]}"
    else:
        message = f"{shown}: within {guard.text().split(':', 1)[1]}"
    return result(
        verdict="fail" if failed else "pass",
        message=message,
        canary=canary,
        control=control,
        worse_by=worse,
        allowed=allowed,
        z=None if z is None else round(z, 3),
    )


def show(metric: str, value: float) -> str:
    if metric in ("error_rate", "success_rate"):
        return f"{value * 100:.1f} %"
    if metric == "p99_latency":
        return f"{value:.2f} s"
    if metric == "cost_per_run":
        return f"${value:.4f}"
    return f"{value:,.0f}"


def combine(flag: str, window: int, at: float, results: list[GuardResult]) -> Evaluation:
    """The plan's verdict: any fail, else any error, else any wait, else pass."""
    verdict = max((r.verdict for r in results), key=VERDICTS.index, default="wait")
    chosen = [r for r in results if r.verdict == verdict]
    if verdict == "pass":
        message = "all guards green: " + "; ".join(r.message for r in results)
    else:
        message = "; ".join(r.message for r in chosen)
    return Evaluation(flag, verdict, message, window, at, results)


class GuardEvaluator:
    """Runs the guards of a plan against Prometheus (sync queries in a worker thread)."""

    def __init__(self, promql: PromQL, timeout: float) -> None:
        self.promql = promql
        self.timeout = timeout

    async def evaluate(self, flag: str, plan: Plan, window: int, at: float) -> Evaluation:
        import asyncio

        texts = queries(flag, window)
        needed = ["runs", *dict.fromkeys(NEEDS[g.metric] for g in plan.guards)]
        answers: dict[str, dict[str, float]] = {}
        failures: dict[str, str] = {}
        for name in needed:
            try:
                answer = await asyncio.to_thread(self.promql.query, texts[name], self.timeout)
            except QueryFailure as exc:
                failures[name] = f"Prometheus: {exc.message}"
                continue
            answers[name] = by_variant(answer.result)
        results = []
        for guard in plan.guards:
            need = NEEDS[guard.metric]
            promql = {"runs": texts["runs"], need: texts[need]}
            if "runs" in failures or need in failures:
                why = failures.get(need) or failures["runs"]
                results.append(
                    GuardResult(
                        guard.metric,
                        guard.text(),
                        "error",
                        f"{guard.label}: holding, {why}",
                        promql=promql,
                    )
                )
                continue
            result = judge(guard, plan, answers["runs"], answers[need])
            result.promql = promql
            results.append(result)
        return combine(flag, window, at, results)
